"""taskbus benchmarks (``make bench``): the targets of bench/README.md, measured on this machine."""

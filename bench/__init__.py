"""taskbus benchmarks (``make bench``): the targets of DESIGN §6, measured on this machine."""

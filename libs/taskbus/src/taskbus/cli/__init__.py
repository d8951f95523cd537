"""The ``taskbus`` command line: serve apps, submit and follow tasks, act on them."""

"""The ``taskbus`` command line."""

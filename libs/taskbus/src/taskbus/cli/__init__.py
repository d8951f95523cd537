"""The ``taskbus`` command line: submit and follow tasks, list, show, cancel and retry them."""

from support.worker_harness import logs, private_nats

__all__ = ["logs", "private_nats"]

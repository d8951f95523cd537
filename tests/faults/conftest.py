from support.fixtures import system, system_factory

__all__ = ["system", "system_factory"]

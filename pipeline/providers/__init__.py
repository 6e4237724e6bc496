"""Providers: Protocols in protocols.py, implementations beside it, factory.py picks."""

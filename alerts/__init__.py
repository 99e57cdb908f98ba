"""Turning detector decisions into contract-v1 alerts and delivering them."""

"""Offline stand-ins shared by the tests: tiny models per architecture, a Go-template renderer."""

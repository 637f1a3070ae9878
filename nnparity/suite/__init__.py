"""The parity suite the pytest plugin runs against an outside implementation."""

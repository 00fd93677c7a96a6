"""Test support: real processes and fakes the tests share."""

"""The service's logic; routers call into here and never touch torch themselves."""

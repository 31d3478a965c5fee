"""baremetal-lb speaker: allocates and announces addresses for LoadBalancer Services."""

__version__ = "0.1.0"

# -*- coding: utf-8 -*-
# Copyright: baremetal-lb developers
# Apache License 2.0 (see galaxy.yml)
"""The metallb.io CRDs the address_pool module installs when missing (generated data in ``metallb.py``)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

# -*- coding: utf-8 -*-
# Copyright: (c) 2026, baremetal-lb developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The metallb.io CRDs the address_pool module installs when missing (generated data in ``metallb.py``)."""

from __future__ import annotations

"""containers.podman.podman with Ansible's pipelining: the module goes to the container on ``podman exec -i``'s stdin.

Why: Molecule's nodes are podman containers, and the podman connection runs every task as about five podman
commands (mount, mkdir of a remote temp dir, chmod, run, rm). With pipelining a task that needs no file
transfer is one ``podman exec``. The upstream plugin declares ``has_pipelining = False`` because ``podman exec``
without ``-i`` drops its stdin (ansible/ansible#67004, podman 1.7); podman >= 1.8 passes stdin with ``-i``.
Nothing else differs: the options, the file transfers (through the mounted root) and the commands are the
upstream plugin's. molecule/config.yml selects it (``connection_options``) for every scenario's containers.
"""

from __future__ import annotations

import shlex

from ansible.module_utils.common.text.converters import to_native
from ansible.plugins.connection import ensure_connect
from ansible_collections.containers.podman.plugins.connection.podman import Connection as PodmanConnection

DOCUMENTATION = """
name: blb_podman
short_description: containers.podman.podman with pipelining (podman exec -i)
description:
  - The containers.podman.podman connection, with module input passed on the stdin of C(podman exec -i).
author: baremetal-lb
options:
  remote_addr:
    description: The container's name or ID.
    default: inventory_hostname
    vars:
      - name: ansible_host
      - name: inventory_hostname
      - name: ansible_podman_host
  remote_user:
    description: The user inside the container (as for containers.podman.podman).
    ini:
      - section: defaults
        key: remote_user
    env:
      - name: ANSIBLE_REMOTE_USER
    vars:
      - name: ansible_user
  podman_extra_args:
    description: Extra arguments for every podman command.
    default: ''
    ini:
      - section: defaults
        key: podman_extra_args
    vars:
      - name: ansible_podman_extra_args
    env:
      - name: ANSIBLE_PODMAN_EXTRA_ARGS
  podman_executable:
    description: The podman command.
    default: podman
    vars:
      - name: ansible_podman_executable
    env:
      - name: ANSIBLE_PODMAN_EXECUTABLE
  pipelining:
    description: Send modules on stdin instead of copying them into the container first.
    default: true
    type: boolean
    env:
      - name: ANSIBLE_PIPELINING
    ini:
      - section: defaults
        key: pipelining
    vars:
      - name: ansible_pipelining
"""


class Connection(PodmanConnection):
    transport = "blb_podman"
    has_pipelining = True

    @ensure_connect
    def exec_command(self, cmd, in_data=None, sudoable=False):
        """The upstream command with ``-i`` when there is input for it (a pipelined module)."""
        super(PodmanConnection, self).exec_command(cmd, in_data=in_data, sudoable=sudoable)
        args = ["exec"] + (["-i"] if in_data is not None else [])
        if self.user:
            args += ["--user", self.user]
        return self._podman(args, shlex.split(to_native(cmd, errors="surrogate_or_strict")), in_data)

# SPDX-License-Identifier: Apache-2.0
# Copyright: gunicorn_prometheus.stack contributors
"""Ansible's linear strategy run through Mitogen for Ansible (the `mitogen` package of the
virtualenv): one Python interpreter per target, kept for the whole playbook, instead of a
new process per task. Found here by ansible.cfg and the Molecule configuration
(strategy_plugins), so neither needs the virtualenv's path; it is the strategy
ansible_mitogen/plugins/strategy/mitogen_linear.py defines.
"""

import ansible_mitogen.loaders
import ansible_mitogen.strategy

LINEAR = ansible_mitogen.loaders.strategy_loader.get("linear", class_only=True)


class StrategyModule(ansible_mitogen.strategy.StrategyMixin, LINEAR):
    """Linear, with Mitogen's connection and module execution."""

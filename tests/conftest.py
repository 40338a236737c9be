"""Loaded for every pytest suite under tests/ (pytest.ini at the repository
root makes it the rootdir): the shared test library, tests/pylib, on the
import path: the harness that starts the real daemons, the Kubernetes
clients and fixtures, the SLURM and HTCondor helpers."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "pylib"))

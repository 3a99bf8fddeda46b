"""Example learner implementations in the seeds' conventions, for the adapters
(parity_tests/adapters.py): a correct one and the seed's own buggy one per convention."""

"""``make mutation``'s support code (not part of the installed package): the pytest plugin
that points ``rnn_parity.scratch`` at mutmut's mutated copy (``scratch_alias``) and the score
and survivor check (``score``). docs/mutation.md explains the run and lists the equivalent
mutants."""

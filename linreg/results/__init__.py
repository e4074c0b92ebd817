"""Every result file linreg reads or writes goes through this package.

- ``kinds``: the record kinds, their schema versions and the one timestamp format;
- ``files``: reading a JSON file (regular files only) and the one atomic writer;
- ``walk``: the one walker over result folders;
- ``load``: one loader per kind, with the schema check and the one error wrapping;
- ``run_folder``, ``checkpoint``, ``references``, ``sweep_record``, ``bench_file``: each kind's
  shape on disk;
- ``bench_sessions``: benchmark files grouped into the sessions (processes of one invocation)
  a timing comparison reads; ``noise_floor``: a machine's A/A process-to-process spread;
- ``resultset``: any mix of them as one set of runs and timings, for ``linreg compare``;
- ``archive``: a results folder as one gzipped tar (in parts under a size limit), to carry home.
"""

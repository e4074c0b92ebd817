"""The history site (`linreg history`): a static folder of pages over results from many
machines and commits, sharing one plotly.min.js so that it opens offline.

- ``figures``: each case's series over sessions, the numerics over repro sets, the sessions
  per host;
- ``pages``: the HTML of the index, a case and the numerics page;
- ``publish``: the output folder's rules (new, or an earlier site rebuilt whole);
- ``build``: gathering, steps and pages strung together.
"""

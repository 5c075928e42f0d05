"""Coverage-guided fuzzing (atheris, libFuzzer) of every decoder and every REST body.

    .venv/bin/python -m tests.fuzz --target all --runs 20000        # each target, 20,000 inputs
    .venv/bin/python -m tests.fuzz --target claims,rest --runs 1e6 --workdir /tmp/cc-fuzz
    .venv/bin/python -m tests.fuzz --list

Each target runs in a process of its own (libFuzzer runs one target per process), over a
real demo alliance and a seed corpus of real encodings made from it (`_seeds`): codes and
presentations of every city, their envelopes and signed claims, status lists and deltas,
the TUF trust files, merchant grants, offers and agreements as JSON, and a valid request
of every REST operation. A crash is an exception outside the `CityCreditError` catalogue,
a broken round trip, a 5xx answer, or an error logged with a traceback; each one is saved
with its input under the work folder's `crashes/` and named in the report, and fuzzing goes
on. Inputs that once crashed are kept in `regressions/` and replayed by `test_fuzz.py`.

atheris is in the `dev` extra (`pip install -e '.[dev]'`, or `pip install atheris`).
"""

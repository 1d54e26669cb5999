"""Execution tracing of candidate programs: events, bounded values, and a text form for models.

Standard library only. The sandbox runs each test between ``tracer.start()`` and ``tracer.stop()``::

    tracer = make_tracer(TraceConfig(), filenames=frozenset({"<candidate>"}))
    tracer.start()
    try:
        exec(test_code, namespace)
    finally:
        record = tracer.stop()
    text = format_trace(record, source, "divide(10, 0)", passed, budget_lines=60)

Only frames whose ``co_filename`` is a target are traced. Modules, by pipeline stage:

- ``core``: the protocol, `make_tracer` and `available_cores`; ``pytracer`` (``sys.settrace``, every
  Python) and ``sysmon`` (``sys.monitoring``, 3.12+) are the cores. On one interpreter both report the
  same events (``python -m eta.trace.crosscheck`` checks it).
- ``capture``: what a variable shows, frozen in the hot path without running user code; ``effects``:
  which lines can change which variables, so that the cores re-read only those; ``saferepr``: bounded
  rendering after the run; ``record``: `TraceEvent`/`TraceRecord`, built lazily from the raw events.
- ``annotate`` and ``text``: the text form; ``cli`` (``python -m eta.trace FILE --call EXPR``); ``run``.
- ``writes`` (each new value-state and the line that wrote it), ``liveness`` (a static slice: what can
  matter to the result) and ``divergence`` (a failing program's execution against its reference's):
  the trace signals of issue 27, see docs/traces.md.

Known differences and limits:

- Python 3.11 runs list/dict/set comprehensions in frames of their own (``call <listcomp>`` events
  and one extra line event); 3.12 inlines them into the enclosing frame, whose variables then show the
  comprehension's variable while it runs. Generator expressions and lambdas are frames everywhere.
- At the recursion limit CPython cannot call a Python trace function: ``sys.settrace`` drops it for
  the rest of the test (the record says so in ``incomplete``); ``sys.monitoring`` keeps its tool.
- See ``effects`` for the two ways a container can change without the next line event showing it.
"""

from eta.trace.config import TraceConfig
from eta.trace.core import Tracer, available_cores, make_tracer
from eta.trace.record import TraceEvent, TraceRecord
from eta.trace.text import format_trace

__all__ = ["TraceConfig", "TraceEvent", "TraceRecord", "Tracer", "available_cores", "format_trace",
           "make_tracer"]

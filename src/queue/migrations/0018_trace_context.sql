-- Tracing (issue #21, item 3; README "Tracing"): the trace context of the enqueue, as the
-- OpenTelemetry propagator wrote it ({"traceparent": "00-…", "tracestate": "…"} with the default W3C
-- one), so that the worker's run of the job joins the caller's trace. NULL when the producer had no
-- active span (always so without an OpenTelemetry SDK). No default: adding the column is a catalog
-- change only, whatever the table's size.
ALTER TABLE jobq.jobs ADD COLUMN trace_context jsonb;

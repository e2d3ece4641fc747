/**
 * Spans leave this process without error text. Temporal's interceptors record a failure's message
 * and stack trace on the span (an `exception` event and the status message); our failures can
 * carry what Temporal only ever stores encrypted (the payload codec encrypts failure messages and
 * stack traces, src/codec/failure-converter.cjs), so they stay out of the tracing backend too. A
 * span keeps its error status and the exception's type; the message is in the workflow's history
 * (decoded through the codec server) and in the worker's log.
 */
import type { Context } from '@opentelemetry/api';
import type { ReadableSpan, Span, SpanProcessor } from '@opentelemetry/sdk-trace-base';

const KEPT_EXCEPTION_ATTRIBUTES = new Set(['exception.type']);

export class WithoutErrorText implements SpanProcessor {
  constructor(private readonly next: SpanProcessor) {}

  onStart(span: Span, parentContext: Context): void {
    this.next.onStart(span, parentContext);
  }

  onEnd(span: ReadableSpan): void {
    this.next.onEnd(withoutErrorText(span));
  }

  forceFlush(): Promise<void> {
    return this.next.forceFlush();
  }

  shutdown(): Promise<void> {
    return this.next.shutdown();
  }
}

export function withoutErrorText(span: ReadableSpan): ReadableSpan {
  const exceptions = span.events.some((e) => e.name === 'exception');
  if (!exceptions && !span.status.message) return span;
  // The span itself is read-only to processors: a view of it with the text left out.
  return Object.create(span, {
    status: { value: { code: span.status.code } },
    events: {
      value: span.events.map((event) =>
        event.name === 'exception'
          ? {
              ...event,
              attributes: Object.fromEntries(
                Object.entries(event.attributes ?? {}).filter(([key]) => KEPT_EXCEPTION_ATTRIBUTES.has(key)),
              ),
            }
          : event,
      ),
    },
  }) as ReadableSpan;
}

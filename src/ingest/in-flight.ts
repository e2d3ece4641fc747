/**
 * The messages a consumer holds (received and not yet deleted) and the room pollers reserve before
 * a receive, so INGEST_MAX_IN_FLIGHT and INGEST_MAX_IN_FLIGHT_BYTES always hold.
 */
import type { ParseResult } from './message.js';
import type { IngestMetrics } from './metrics.js';

export interface Tracked {
  messageId: string;
  receiptHandle: string;
  parsed: ParseResult;
  /** Bytes of the body held (an oversized body: its prefix), counted against INGEST_MAX_IN_FLIGHT_BYTES. */
  bytes: number;
  /** When SQS will make it visible again unless we extend or delete it (ms epoch). */
  visibleUntil: number;
  queuedAt: number;
}

export interface Room {
  messages: number;
  bytes: number;
}

export class InFlight {
  /** Received, waiting for the writer. */
  readonly pending: Tracked[] = [];
  /** Everything received and not yet deleted (pending, being written, being deleted). */
  private readonly tracked = new Set<Tracked>();
  /** Sum of `bytes` over `tracked`; room reserved by pollers waiting on a receive. */
  private trackedBytes = 0;
  private reserved: Room = { messages: 0, bytes: 0 };

  constructor(
    private readonly limits: { maxInFlight: number; maxInFlightBytes: number },
    private readonly metrics: IngestMetrics,
  ) {}

  get size(): number {
    return this.tracked.size;
  }

  get bytes(): number {
    return this.trackedBytes;
  }

  all(): Tracked[] {
    return [...this.tracked];
  }

  /** Whether `room` fits beside what is held and reserved; reserve it with no await in between. */
  fits(room: Room): boolean {
    return (
      this.tracked.size + this.reserved.messages + room.messages <= this.limits.maxInFlight &&
      this.trackedBytes + this.reserved.bytes + room.bytes <= this.limits.maxInFlightBytes
    );
  }

  reserve(room: Room): void {
    this.reserved.messages += room.messages;
    this.reserved.bytes += room.bytes;
  }

  release(room: Room): void {
    this.reserved.messages -= room.messages;
    this.reserved.bytes -= room.bytes;
  }

  /** Holds a received message and queues it for the writer. */
  add(t: Tracked): void {
    this.tracked.add(t);
    this.trackedBytes += t.bytes;
    this.pending.push(t);
  }

  untrack(t: Tracked): void {
    if (this.tracked.delete(t)) this.trackedBytes -= t.bytes;
  }

  /** Publishes the held count and bytes to the gauges. */
  report(): void {
    this.metrics.inFlight.set(this.tracked.size);
    this.metrics.inFlightBytes.set(this.trackedBytes);
  }
}

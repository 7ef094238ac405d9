import type { Message, Producer } from 'kafkajs';
import type { AttemptRecord } from './attempt-record.js';

/**
 * Every attempt goes to the attempts topic. Records are batched for a few
 * milliseconds so a busy deliverer sends one request for many attempts;
 * `record` resolves once Kafka has the record.
 */
export interface AttemptLog {
  record(attempt: AttemptRecord): Promise<void>;
  flush(): Promise<void>;
}

export function createAttemptLog(producer: Producer, topic: string, options: { lingerMs: number; maxBatch: number }): AttemptLog {
  let pending: Array<{ message: Message; resolve: () => void; reject: (error: unknown) => void }> = [];
  let timer: NodeJS.Timeout | undefined;

  const flush = async (): Promise<void> => {
    clearTimeout(timer);
    timer = undefined;
    const batch = pending;
    pending = [];
    if (batch.length === 0) return;
    try {
      await producer.send({ topic, messages: batch.map((p) => p.message) });
      for (const p of batch) p.resolve();
    } catch (error) {
      for (const p of batch) p.reject(error);
    }
  };

  return {
    record(attempt) {
      return new Promise<void>((resolve, reject) => {
        pending.push({ message: { key: attempt.webhookId, value: JSON.stringify(attempt) }, resolve, reject });
        if (pending.length >= options.maxBatch) void flush();
        else timer ??= setTimeout(() => void flush(), options.lingerMs);
      });
    },
    flush,
  };
}

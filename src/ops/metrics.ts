import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** Prometheus metrics, one registry per service instance (tests run several in one process). */
export class Metrics {
  readonly registry = new Registry();

  readonly readings = new Counter({
    name: 'homewatch_readings_total',
    help: 'Readings received, by transport and outcome (accepted, duplicate, rejected)',
    labelNames: ['transport', 'outcome'] as const,
    registers: [this.registry],
  });

  readonly messagesRefused = new Counter({
    name: 'homewatch_messages_refused_total',
    help: 'Whole messages refused before their readings were looked at (rate_limited over MQTT: slowed down, not refused), by transport and reason',
    labelNames: ['transport', 'reason'] as const,
    registers: [this.registry],
  });

  readonly ingestSeconds = new Histogram({
    name: 'homewatch_ingest_duration_seconds',
    help: 'From receiving a message to its readings being committed, by transport',
    labelNames: ['transport'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
    registers: [this.registry],
  });

  readonly commitJobs = new Histogram({
    name: 'homewatch_group_commit_jobs',
    help: 'Messages committed together in one transaction',
    buckets: [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000],
    registers: [this.registry],
  });

  readonly alertEvents = new Counter({
    name: 'homewatch_alert_events_total',
    help: 'Alert events (opened, updated, acknowledged, resolved) by severity',
    labelNames: ['event', 'severity'] as const,
    registers: [this.registry],
  });

  readonly pushes = new Counter({
    name: 'homewatch_pushes_total',
    help: 'Web Push attempts by outcome (delivered, gone, retry, failed) and HTTP status',
    labelNames: ['outcome', 'status'] as const,
    registers: [this.registry],
  });

  readonly escalations = new Counter({
    name: 'homewatch_escalations_total',
    help: 'Alerts passed to a later care-team tier, by severity and tier',
    labelNames: ['severity', 'tier'] as const,
    registers: [this.registry],
  });

  readonly alertsUnreached = new Counter({
    name: 'homewatch_alerts_unreached_total',
    help: 'Alerts that reached nobody on the care team (shown to admins)',
    labelNames: ['severity'] as const,
    registers: [this.registry],
  });

  readonly readingToPushSeconds = new Histogram({
    name: 'homewatch_reading_to_push_seconds',
    help: 'From receiving the reading that opened an alert to its first push being accepted by the push service',
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });

  readonly connectedDevices = new Gauge({
    name: 'homewatch_mqtt_connected_devices',
    help: 'Devices connected to the embedded MQTT broker',
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'homewatch_' });
  }

  /**
   * The InfluxDB forwarder's metrics, registered only with READINGS_STORE=influxdb, so that an install
   * on SQLite does not export an InfluxDB that is forever "down". The gauges are read at each scrape.
   */
  trackInflux(status: () => { backlog: number; up: boolean }): InfluxMetrics {
    const registers = [this.registry];
    new Gauge({
      name: 'homewatch_influx_backlog_readings',
      help: 'Readings committed to SQLite and not yet confirmed by InfluxDB',
      registers,
      collect() {
        this.set(status().backlog);
      },
    });
    new Gauge({
      name: 'homewatch_influx_up',
      help: '1 while InfluxDB takes writes (or answers probes), 0 while it does not',
      registers,
      collect() {
        this.set(status().up ? 1 : 0);
      },
    });
    return {
      pointsWritten: new Counter({
        name: 'homewatch_influx_points_written_total',
        help: 'Readings InfluxDB confirmed (a batch sent again after a crash counts again)',
        registers,
      }),
      writeFailures: new Counter({
        name: 'homewatch_influx_write_failures_total',
        help: 'Batch writes InfluxDB did not take (each is retried)',
        registers,
      }),
      droppedByRetention: new Counter({
        name: 'homewatch_influx_retention_dropped_total',
        help: 'Readings InfluxDB dropped because they are older than its retention policy keeps',
        registers,
      }),
    };
  }
}

export interface InfluxMetrics {
  pointsWritten: Counter;
  writeFailures: Counter;
  droppedByRetention: Counter;
}

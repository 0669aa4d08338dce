/** `npm run worker`'s flags: its own, plus every flag `serve` takes, parsed by serve's parser. */
import { describe, expect, it } from 'vitest';
import { parseWorkerArgs } from '../../src/main/workerCli';

describe('worker flags', () => {
  it('takes its own flags and every serve flag', () => {
    const a = parseWorkerArgs(['--nats', 'nats://u:p@h:4222', '--name', 'gpu box', '--models', '/m', '--data=/d', '--memory-budget', '8GB', '--max-active', '2', '--labels', 'gpu=cuda, zone=lab', '--heartbeat', '250', '--listen', '[::1]:7000', '--advertise', '10.0.0.5', '--no-warm-standby']);
    expect(a).toMatchObject({ nats: 'nats://u:p@h:4222', name: 'gpu box', labels: { gpu: 'cuda', zone: 'lab' }, heartbeatMs: 250, listenHost: '::1', listenPort: 7000, advertiseHost: '10.0.0.5' });
    expect(a.overrides).toEqual({ models_dir: '/m', data_dir: '/d', memory_budget: 8 * 1024 ** 3, max_active_models: 2, warm_standby: false });
    expect(parseWorkerArgs(['--nats', 'nats://h']).heartbeatMs).toBe(2000);
  });

  it('bad flags say what to write', () => {
    expect(() => parseWorkerArgs(['--name', 'w'])).toThrow(/--nats is required/);
    expect(() => parseWorkerArgs(['--nats', 'nats://h', '--heartbeat', '10'])).toThrow(/--heartbeat must be milliseconds between 50 and 60000/);
    expect(() => parseWorkerArgs(['--nats', 'nats://h', '--labels', 'gpu'])).toThrow(/--labels: "gpu" is not key=value/);
    expect(() => parseWorkerArgs(['--nats', 'nats://h', '--listen', '7000'])).toThrow(/--listen: "7000" is not HOST:PORT/);
    expect(() => parseWorkerArgs(['--nats', 'nats://h', '--max-active', 'lots'])).toThrow(/--max-active/);
    expect(() => parseWorkerArgs(['--nats'])).toThrow(/--nats needs a value/);
    expect(() => parseWorkerArgs(['--nats', 'nats://h', '--bogus', '1'])).toThrow(/unknown flag --bogus/);
  });
});

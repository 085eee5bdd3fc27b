// The executor backend: each batch of calls is one CALLS request to the
// guest's (or a local) executor; helpers run there; a child process is a
// FORK of the executor, which serves the requests until EXIT.
import { ExecutorClient, ExecutorDiedError, ExecutorError, type ReadyInfo } from './executor-client.js';
import { encodeCalls, encodeExit, encodeHelper, encodeSimple, REQ, type Call, type CallResult, type HelperReply, type HelperRequest, type Reply } from './executor-protocol.js';
import { Target, type Backend } from './target.js';

function expectReply<T extends Reply['type']>(r: Reply, type: T): Extract<Reply, { type: T }> {
  if (r.type === 'error') throw new ExecutorError(`executor refused the request: ${r.message}`);
  if (r.type !== type) throw new ExecutorError(`executor answered ${r.type} where ${type} was due`);
  return r as Extract<Reply, { type: T }>;
}

export class ExecutorBackend implements Backend {
  readonly kind = 'executor' as const;
  /** Batch sizes sent (for the benchmark). */
  readonly batchSizes: number[] = [];

  constructor(
    readonly client: ExecutorClient,
    private ready: ReadyInfo,
    private readonly helperDir: string,
    readonly onDemandModuleDir: string | null = null,
  ) {}

  /** The executor replaced after a crash or a kill. */
  replaced(ready: ReadyInfo): void {
    this.ready = ready;
  }

  async calls(batch: Call[]): Promise<CallResult[]> {
    this.batchSizes.push(batch.length);
    const r = expectReply(await this.client.request(encodeCalls(batch)), 'calls');
    if (r.results.length !== batch.length) throw new ExecutorError(`executor answered ${r.results.length} results for ${batch.length} calls`);
    return r.results;
  }

  async helper(req: HelperRequest): Promise<HelperReply> {
    return expectReply(await this.client.request(encodeHelper(req)), 'helper').helper;
  }

  helperPath(name: string): string {
    return `${this.helperDir}/${name}`;
  }

  async withChild<T>(fn: (child: Target) => Promise<T>): Promise<T> {
    expectReply(await this.client.request(encodeSimple(REQ.FORK)), 'forked');
    let childAlive = true;
    try {
      return await fn(new Target(this));
    } catch (e) {
      if (e instanceof ExecutorDiedError) childAlive = false;
      throw e;
    } finally {
      if (childAlive && !this.client.closed) {
        const end = expectReply(await this.client.request(encodeExit(0)), 'child');
        if (end.exit !== 0) throw new ExecutorError(`forked child ended with exit ${end.exit} signal ${end.signal}`);
      }
    }
  }

  async identity(): Promise<{ release: string; machine: string }> {
    return { release: this.ready.release, machine: this.ready.machine };
  }

  async ping(timeoutMs?: number): Promise<void> {
    expectReply(await this.client.request(encodeSimple(REQ.PING), timeoutMs), 'pong');
  }

  async powerOff(timeoutMs: number): Promise<void> {
    expectReply(await this.client.request(encodeSimple(REQ.POWEROFF), timeoutMs), 'bye');
  }
}

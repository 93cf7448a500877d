// Whether WebGPU accepted each recorded step. Recording into a finished (or otherwise invalid) encoder raises a
// device validation error, not an exception, and only after step() has returned; an error scope around each
// recording finds it, and the optimizer then takes that step back. The scopes resolve in recording order.

// Error scopes around recordings still waiting for their result; a loop that never yields stops adding more, so
// memory stays bounded (those steps are then recorded without the check).
const MAX_WATCHED_RECORDINGS = 256;

export class RecordingWatch {
  #watched = 0;
  /** Checks still outstanding at the last `forgetPending()`: their steps no longer count. */
  #checksBeforeForget = 0;
  #last: Promise<void> = Promise.resolve();

  /** `onRefused` runs once per watched recording that WebGPU refused (and not forgotten). */
  constructor(
    private readonly device: GPUDevice,
    private readonly onRefused: (error: GPUError) => void,
  ) {}

  /** Opens a scope around the recording about to be made; false when at the cap (that step goes unwatched). */
  begin(): boolean {
    if (this.#watched >= MAX_WATCHED_RECORDINGS) return false;
    this.device.pushErrorScope('validation');
    return true;
  }

  /** Closes the scope of a recording that threw (its step was never counted): its result is ignored. */
  abandon(): void {
    this.device.popErrorScope().catch(() => null);
  }

  /** Closes the scope of a recording that went through; its result arrives later. */
  end(): void {
    this.#watched++;
    this.#last = this.device.popErrorScope().then(this.#onChecked, this.#onUnchecked);
  }

  /** Resolves once every recording watched so far has been checked. */
  get settled(): Promise<void> {
    return this.#last;
  }

  /** The steps recorded so far no longer count (a state was loaded): their checks are dropped. */
  forgetPending(): void {
    this.#checksBeforeForget = this.#watched;
  }

  // Bound once: watching a recording allocates no closure.
  readonly #onChecked = (error: GPUError | null): void => {
    this.#watched--;
    if (this.#checksBeforeForget > 0) {
      this.#checksBeforeForget--;
      return;
    }
    if (error !== null) this.onRefused(error);
  };

  readonly #onUnchecked = (): void => {
    this.#watched--;
    if (this.#checksBeforeForget > 0) this.#checksBeforeForget--;
  };
}

// A typed listener list: the client's events, without a DOM EventTarget (whose
// CustomEvent wrapping would put `.detail` in every application's handler).

export type Listener<T> = (value: T) => void;

export class Emitter<Events extends object> {
  private readonly listeners = new Map<keyof Events, Set<Listener<never>>>();

  /** Listen to one event; returns the function that stops listening. */
  on<K extends keyof Events>(event: K, listener: Listener<Events[K]>): () => void {
    let set = this.listeners.get(event);
    if (set === undefined) {
      set = new Set();
      this.listeners.set(event, set);
    }
    set.add(listener as Listener<never>);
    return () => set.delete(listener as Listener<never>);
  }

  emit<K extends keyof Events>(event: K, value: Events[K]): void {
    for (const listener of this.listeners.get(event) ?? []) {
      // One application handler that throws must not stop the others, nor the client.
      try {
        (listener as Listener<Events[K]>)(value);
      } catch (err) {
        console.error("Talkbox: a listener of", String(event), "threw", err);
      }
    }
  }
}

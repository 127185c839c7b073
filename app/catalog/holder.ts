// The live catalog. Requests take `current` once at their start, so a swap never changes the
// version a request in flight works on.
import type { Catalog } from '../domain/catalog';

export type CatalogListener = (next: Catalog, previous: Catalog) => void;

export class CatalogHolder {
  private listeners: CatalogListener[] = [];
  constructor(private catalog: Catalog) {}

  get current(): Catalog {
    return this.catalog;
  }

  swap(next: Catalog): void {
    const prev = this.catalog;
    this.catalog = next;
    for (const l of this.listeners) l(next, prev);
  }

  onChange(listener: CatalogListener): () => void {
    this.listeners.push(listener);
    return () => {
      this.listeners = this.listeners.filter((l) => l !== listener);
    };
  }
}

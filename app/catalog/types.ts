// Catalog types live in app/domain/catalog.ts (the vocabulary every layer shares).
export * from '../domain/catalog';

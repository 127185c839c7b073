export * from '../domain/catalog';
export { MAX_ID_LENGTH, catalogVersion, loadCatalogFile, parseCatalog, parseCatalogText } from './load';

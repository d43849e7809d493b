export { AnalyticsError, type AnalyticsErrorCode } from './errors.js';
export { isPersonDimension, unitOf, type Unit } from './units.js';
export { cellKey, type CellRef, type Figure, type Flag, type Provenance } from './figure.js';
export {
  AnalyticsStore,
  totalOf,
  type FigureQuery,
  type ReceivedCell,
  type StoredRecord,
  type StoreItem,
  type Total,
} from './store.js';
export {
  InboxIngestor,
  type IngestRefusalCode,
  type IngestStats,
  type InboxIngestorOptions,
} from './ingestor.js';
export { CSV_COLUMNS, dimensionsText, figuresCsv } from './csv-export.js';
export {
  confStatus,
  figuresSdmxCsv,
  sdmxColumn,
  SDMX_AGENCY,
  SDMX_DATAFLOW_ID,
  SDMX_DATAFLOW_VERSION,
  type SdmxCsvOptions,
} from './sdmx-csv.js';
export {
  smugglingMispEvents,
  type InformationCredibility,
  type MispOptions,
  type SourceReliability,
  type Tlp,
} from './misp.js';
export {
  EXPORT_FORMATS,
  EXPORT_MEDIA_TYPES,
  exportFigures,
  isExportFormat,
  writeParquet,
  type ExportFormat,
  type ExportOptions,
} from './export.js';
export { AnalyticsApi, EXPORT_PATHS, isLoopbackHost, type AnalyticsApiOptions } from './http-api.js';
export { dashboardStatic, dashboardView, type Served } from './dashboard/routes.js';
export {
  demographicsView,
  indicatorsView,
  lagView,
  nationalityView,
  originsView,
  readmissionView,
  receptionView,
  ROUTE_ORDER,
  ROUTE_PAIRS,
  routeView,
  warningsView,
  WARNING_MIN_RISE,
  WARNING_RATIO,
  WARNING_WEEKS,
  type Cell,
  type IndicatorMonth,
  type IndicatorSeries,
  type LagRow,
  type NationalityView,
  type OriginNote,
  type ReadmissionRow,
  type ReceptionFacility,
  type ReceptionRow,
  type RouteView,
  type SourceRef,
  type WarningFlag,
} from './dashboard/views.js';

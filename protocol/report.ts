// The engine's report as it crosses to the client and the webview: re-exported
// here (types only) so that client/ and webview/ import protocol/, never solver/.
export type {
  Finding,
  ParameterReport,
  ParameterSummary,
  Report,
  ReportSummary,
  RowQuery,
  RowSeries,
  RowsAnswer,
  RowTable,
  RowTableInfo,
  RowView,
} from '../solver/report';

/**
 * `--format` handling shared by the listing and inspect commands. Rendering is
 * model/go-template.ts (docker's Go-template subset, `json`, and `table` alignment);
 * this module only supplies each command's default format and column headers.
 */
import { renderFormat } from '../model/go-template.js';

export interface ListFormat {
  /** docker's default, e.g. "table {{.ID}}\t{{.Name}}". */
  defaultTable: string;
  headers: Record<string, string>;
}

/** Renders list rows: the default table, a user format, or (quiet) the IDs only. */
export function formatList(rows: readonly unknown[], spec: ListFormat, format: string | undefined, quiet = false): string {
  if (quiet && (format === undefined || format === 'table')) return renderFormat('{{.ID}}', rows);
  const chosen = format === undefined || format === '' || format === 'table' ? spec.defaultTable : format;
  return renderFormat(chosen, rows, { headers: spec.headers });
}

/**
 * `inspect` output: a JSON array indented by 4 spaces like docker's (json.Indent of the
 * server's bytes), or one rendered line per object with --format.
 */
export function formatInspect(objects: readonly unknown[], format: string | undefined): string {
  if (format === undefined || format === '') return `${JSON.stringify(objects, null, 4)}\n`;
  return renderFormat(format, objects);
}

/** Go's time.Time String(): "2006-01-02 15:04:05.999999999 -0700 MST" (docker's CreatedAt). */
export function goTimeString(rfc3339: string): string {
  const m = /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}:\d{2})(\.\d+)?Z$/.exec(rfc3339);
  if (m === null) return rfc3339;
  const fraction = (m[3] ?? '').replace(/0+$/, '');
  return `${m[1]} ${m[2]}${fraction === '.' ? '' : fraction} +0000 UTC`;
}

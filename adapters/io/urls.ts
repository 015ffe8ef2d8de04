/**
 * Where a packed model's files are: model.json from what the caller passed (a folder or a
 * model.json, as a path or a URL), and the weights file beside model.json. A URL's query (signed
 * URLs: ?token=..., ?X-Amz-Signature=...) is kept on both requests; its fragment is dropped.
 * Pure string work: runs anywhere.
 */

/** True for scheme:// URLs other than file:// (those are fetched). */
export function isRemoteUrl(s: string): boolean {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(s) && !/^file:/i.test(s);
}

function isUrl(s: string): boolean {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(s);
}

/** model.json location for a folder or a model.json (path or URL). */
export function modelJsonLocation(pathOrUrl: string): string {
  if (isUrl(pathOrUrl)) {
    const u = new URL(pathOrUrl);
    u.hash = '';
    if (!/\.json$/i.test(u.pathname)) {
      // A folder, with or without its trailing slash: https://host/q?token=1 -> https://host/q/model.json?token=1
      if (!u.pathname.endsWith('/')) u.pathname += '/';
      u.pathname += 'model.json';
    }
    return u.toString();
  }
  if (/\.json$/i.test(pathOrUrl)) return pathOrUrl;
  return pathOrUrl.replace(/[\\/]*$/, '') + '/model.json';
}

/** The location of `file` (a plain file name) in the folder of model.json, with model.json's query. */
export function siblingLocation(modelJson: string, file: string): string {
  if (isUrl(modelJson)) {
    const base = new URL(modelJson);
    const u = new URL(encodeURIComponent(file), base);
    u.search = base.search;
    u.hash = '';
    return u.toString();
  }
  const cut = Math.max(modelJson.lastIndexOf('/'), modelJson.lastIndexOf('\\'));
  return cut < 0 ? file : modelJson.slice(0, cut + 1) + file;
}

// The little JavaScript of the pages; each works without it. Buttons with data-copy copy the
// text of the element that attribute names (a token shown once).
document.addEventListener("click", (event) => {
  const button = event.target.closest("button[data-copy]");
  if (!button) return;
  const source = document.getElementById(button.dataset.copy);
  if (!source) return;
  navigator.clipboard.writeText(source.value || source.textContent).then(() => {
    button.textContent = "Copied";
  });
});

// Uploads: two files at a time, with a progress bar per file and one for all; once every file
// is in, the page reloads to show the new revisions. A small file goes up in one PUT. A file of
// a piece or more goes up in a resumable session (POST …/uploads, then PATCHes of a piece from
// the confirmed offset, then the commit; docs/API-DESIGN.md "Uploads"): a dropped connection
// or a restarted datastore costs a retry, not the file. The session is remembered in
// localStorage by release, name, size and modification time, so choosing the same file again
// after the page was closed goes on from the last confirmed byte.
const UPLOADS_AT_ONCE = 2;
const PIECE = 8 << 20;
const RETRIES = 10;

function send(method, url, csrf, { headers = {}, body = null, onProgress = null } = {}) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open(method, url);
    // A connection that goes silent fails, and is retried, instead of hanging the upload.
    xhr.timeout = 120000;
    xhr.addEventListener("timeout", () => reject(new Error("the datastore stopped answering")));
    xhr.addEventListener("abort", () => reject(new Error("the request was cut off")));
    xhr.setRequestHeader("X-CSRF-Token", csrf);
    for (const [name, value] of Object.entries(headers)) xhr.setRequestHeader(name, value);
    if (onProgress) xhr.upload.addEventListener("progress", (e) => onProgress(e.loaded));
    xhr.addEventListener("load", () => resolve(xhr));
    xhr.addEventListener("error", () => reject(new Error("the connection failed")));
    xhr.send(body);
  });
}

function answer(xhr) {
  try {
    return JSON.parse(xhr.responseText);
  } catch (_) {
    return { error: "unexpected", message: `the datastore answered ${xhr.status}` };
  }
}

const pause = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// A file's first and last MiB, hashed: a rebuilt file of the same name, size and time (builds
// that set every time to SOURCE_DATE_EPOCH) does not resume an upload of the other bytes.
async function fingerprint(file) {
  if (!window.crypto || !crypto.subtle) return "";
  const ends = [file.slice(0, 1 << 20), file.slice(Math.max(0, file.size - (1 << 20)))];
  const parts = await Promise.all(ends.map(async (part) => crypto.subtle.digest("SHA-256", await part.arrayBuffer())));
  return parts.map((digest) => [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("")).join("");
}

async function uploadResumably(api, csrf, file, bar, note) {
  const key = `upload ${api} ${file.name} ${file.size} ${file.lastModified} ${await fingerprint(file)}`;
  let session = null;
  const remembered = localStorage.getItem(key);
  if (remembered) {
    const held = await send("GET", remembered, csrf).catch(() => null);
    if (held && held.status === 200) session = answer(held);
  }
  if (!session) {
    const opened = await send("POST", `${api}/uploads`, csrf, {
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ path: file.name, size: file.size }),
    });
    if (opened.status !== 201) throw new Error(answer(opened).message);
    session = answer(opened);
    localStorage.setItem(key, `/api/v1/uploads/${session.id}`);
  } else if (session.offset > 0) {
    note.textContent = `resuming at ${Math.floor((100 * session.offset) / file.size)} %`;
  }
  const url = `/api/v1/uploads/${session.id}`; // on this page's origin, whatever the public URL
  let offset = session.offset;
  let failures = 0;
  while (offset < file.size) {
    bar.value = offset;
    let reason = "the connection failed";
    try {
      const piece = file.slice(offset, offset + PIECE);
      const sent = await send("PATCH", url, csrf, {
        headers: { "Upload-Offset": String(offset), "Content-Type": "application/offset+octet-stream" },
        body: piece,
        onProgress: (n) => { bar.value = offset + n; },
      });
      if (sent.status === 204) {
        offset = Number(sent.getResponseHeader("Upload-Offset"));
        failures = 0;
        continue;
      }
      const error = answer(sent);
      // Busy (an earlier request still holds the session), another offset, or the server
      // unwell: ask where it stands and go on. Anything else is for the person to read.
      if (!["upload_busy", "offset_mismatch"].includes(error.error) && sent.status < 500) {
        throw Object.assign(new Error(error.message), { final: true });
      }
      reason = error.message;
    } catch (e) {
      if (e.final) throw e;
    }
    failures += 1;
    if (failures > RETRIES) throw new Error(`${reason}; choose the file again to go on from here`);
    note.textContent = `${reason}; trying again (${failures} of ${RETRIES})`;
    await pause(Math.min(30000, 500 * 2 ** failures));
    try {
      const held = await send("GET", url, csrf);
      if (held.status === 200) offset = answer(held).offset;
      else if (held.status === 404) throw Object.assign(new Error("the upload session expired"), { final: true });
    } catch (e) {
      if (e.final) {
        localStorage.removeItem(key);
        throw e;
      }
    }
  }
  note.textContent = "storing";
  for (let attempt = 1; ; attempt += 1) {
    const committed = await send("POST", `${url}/commit`, csrf).catch(() => null);
    if (committed && committed.status === 201) break;
    // Gone after an answer that was lost: the session ends only when committed (or deleted,
    // or expired), so the file is most likely in; the reloaded page shows it.
    if (committed && committed.status === 404 && attempt > 1) break;
    // Refused for good (or the session is gone): forget it. A cut connection or a server
    // restarting: try again; the session keeps every byte meanwhile.
    if (committed && committed.status < 500) {
      localStorage.removeItem(key);
      throw new Error(answer(committed).message);
    }
    if (attempt > RETRIES) throw new Error("the commit did not go through; choose the file again to finish it");
    note.textContent = `storing: trying again (${attempt} of ${RETRIES})`;
    await pause(Math.min(30000, 500 * 2 ** attempt));
  }
  localStorage.removeItem(key);
  bar.value = file.size;
  note.textContent = "done";
  return file.size;
}

async function uploadOne(api, csrf, file, bar, note) {
  if (file.size >= PIECE) {
    try {
      return await uploadResumably(api, csrf, file, bar, note);
    } catch (e) {
      note.textContent = e.message;
      note.className = "status-failure";
      throw e;
    }
  }
  return uploadWhole(api, csrf, file, bar, note);
}

function uploadWhole(api, csrf, file, bar, note) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("PUT", `${api}/files/${encodeURIComponent(file.name)}`);
    xhr.setRequestHeader("X-CSRF-Token", csrf);
    xhr.upload.addEventListener("progress", (e) => {
      if (e.lengthComputable) bar.value = e.loaded;
    });
    xhr.addEventListener("load", () => {
      if (xhr.status >= 200 && xhr.status < 300) {
        bar.value = file.size;
        note.textContent = "done";
        resolve(file.size);
        return;
      }
      let message = `${xhr.status}`;
      try {
        message = JSON.parse(xhr.responseText).message || message;
      } catch (_) { /* not JSON */ }
      note.textContent = message;
      note.className = "status-failure";
      reject(new Error(message));
    });
    xhr.addEventListener("error", () => {
      note.textContent = "the connection failed";
      note.className = "status-failure";
      reject(new Error("network"));
    });
    xhr.send(file);
  });
}

document.addEventListener("submit", async (event) => {
  const form = event.target.closest("form[data-upload]");
  if (!form) return;
  event.preventDefault();
  const files = [...form.querySelector("input[type=file]").files];
  const list = form.querySelector("#upload-progress");
  list.replaceChildren();
  const total = document.createElement("progress");
  total.max = files.reduce((sum, f) => sum + f.size, 0) || 1;
  total.value = 0;
  total.id = "upload-total";
  list.append(total);
  const rows = files.map((file) => {
    const item = document.createElement("li");
    const bar = document.createElement("progress");
    bar.max = file.size || 1;
    bar.value = 0;
    const note = document.createElement("span");
    note.className = "muted";
    item.append(`${file.name} `, bar, " ", note);
    list.append(item);
    return { file, bar, note };
  });
  const tick = () => {
    total.value = rows.reduce((sum, r) => sum + r.bar.value, 0);
  };
  const timer = setInterval(tick, 200);
  let failed = false;
  const queue = [...rows];
  const worker = async () => {
    for (let row = queue.shift(); row; row = queue.shift()) {
      try {
        await uploadOne(form.dataset.upload, form.dataset.csrf, row.file, row.bar, row.note);
      } catch (_) {
        failed = true;
      }
    }
  };
  await Promise.all(Array.from({ length: UPLOADS_AT_ONCE }, worker));
  clearInterval(timer);
  tick();
  if (!failed) window.location.assign(form.dataset.done);
});

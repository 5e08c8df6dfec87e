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

// Uploads: each chosen file is streamed with its own PUT (two at a time), with a progress bar
// per file and one for all; once every file is in, the page reloads to show the new revisions.
const UPLOADS_AT_ONCE = 2;

function uploadOne(api, csrf, file, bar, note) {
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

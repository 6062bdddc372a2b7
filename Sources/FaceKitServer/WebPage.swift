/// The page at /: drop two photos, get deepface's verify result with both
/// faces boxed; drop one photo to get deepface's analysis of each face and
/// to search the face store (and register it).
/// Plain HTML, CSS and JS in the binary, so it needs no build step and no
/// files next to the server.
enum WebPage {
    static let html = #"""
    <!doctype html>
    <html lang="en">
    <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <title>FaceKit</title>
    <style>
      :root { font-family: system-ui, sans-serif; color: #1d2330; background: #f5f6f8; }
      body { max-width: 980px; margin: 0 auto; padding: 24px; }
      h1 { font-size: 1.4rem; margin: 0 0 4px; }
      p.lead { margin: 0 0 20px; color: #566; }
      .controls { display: flex; flex-wrap: wrap; gap: 12px; margin-bottom: 16px; align-items: end; }
      label { font-size: .85rem; display: flex; flex-direction: column; gap: 4px; }
      select, input { font: inherit; padding: 4px 6px; }
      .pair { display: grid; grid-template-columns: 1fr 1fr; gap: 16px; }
      .drop { position: relative; border: 2px dashed #99a; border-radius: 10px; min-height: 280px; background: #fff;
              display: flex; align-items: center; justify-content: center; cursor: pointer; overflow: hidden; }
      .drop.over { border-color: #2a6ef0; background: #eef4ff; }
      .drop span { color: #778; }
      .drop canvas { max-width: 100%; max-height: 420px; display: none; }
      .drop.loaded canvas { display: block; }
      .drop.loaded span { display: none; }
      #result { margin-top: 18px; padding: 14px 16px; border-radius: 10px; background: #fff; min-height: 24px; }
      #result.same { border-left: 6px solid #1a9b4b; }
      #result.different { border-left: 6px solid #c8392b; }
      #result.error { border-left: 6px solid #c87f2b; }
      #decision { font-size: 1.2rem; font-weight: 600; }
      table { border-collapse: collapse; margin-top: 8px; }
      td, th { padding: 2px 14px 2px 0; font-variant-numeric: tabular-nums; text-align: left; }
      th { font-weight: 600; font-size: .85rem; color: #566; }
      h2 { font-size: 1.1rem; margin: 28px 0 8px; }
      .single { display: grid; grid-template-columns: 1fr 1fr; gap: 16px; }
      .panel { padding: 14px 16px; border-radius: 10px; background: #fff; }
      .panel .row { display: flex; gap: 8px; align-items: end; margin-bottom: 10px; flex-wrap: wrap; }
      button { font: inherit; padding: 4px 12px; }
      tr.match td:first-child { color: #1a9b4b; font-weight: 600; }
      #search-status { margin-top: 14px; }
    </style>
    </head>
    <body>
    <h1>FaceKit</h1>
    <p class="lead">Drop two photos to see whether they show the same person (deepface's verify), or one photo to analyse it and search the face store.</p>
    <div class="controls">
      <label>Model <select id="model"><option>SFace</option><option>Dlib</option></select></label>
      <label>Detector <select id="detector"><option>yunet</option><option>mtcnn</option><option>dlib</option><option>ssd</option><option>opencv</option></select></label>
      <label>Metric <select id="metric"><option>cosine</option><option>euclidean</option><option>euclidean_l2</option><option>angular</option></select></label>
      <label>API key (if the server needs one) <input id="key" type="password" autocomplete="off" size="24"></label>
    </div>
    <div class="pair">
      <div class="drop" id="drop1"><span>Drop photo 1 here, or click</span><canvas></canvas><input type="file" accept="image/*" hidden></div>
      <div class="drop" id="drop2"><span>Drop photo 2 here, or click</span><canvas></canvas><input type="file" accept="image/*" hidden></div>
    </div>
    <div id="result"><span id="decision">Waiting for two photos.</span><table id="details"></table></div>
    <h2>One photo: analysis, and a search of the face store</h2>
    <div class="single">
      <div class="drop" id="drop3"><span>Drop a photo here, or click</span><canvas></canvas><input type="file" accept="image/*" hidden></div>
      <div class="panel">
        <div class="row">
          <label>Name <input id="name" size="18" placeholder="e.g. alice"></label>
          <button id="register" type="button" disabled>Register its faces</button>
        </div>
        <div id="analysis-status">Waiting for a photo.</div>
        <table id="analysis"></table>
        <div id="search-status"></div>
        <table id="matches"></table>
      </div>
    </div>
    <script>
    "use strict";
    const files = [null, null, null];
    const bitmaps = [null, null, null];
    const keyInput = document.getElementById("key");
    keyInput.value = localStorage.getItem("facekit-key") || "";
    keyInput.addEventListener("change", () => { localStorage.setItem("facekit-key", keyInput.value); verify(); single(); });
    for (const id of ["model", "detector", "metric"]) document.getElementById(id).addEventListener("change", () => { verify(); single(); });

    function setUp(index) {
      const zone = document.getElementById("drop" + (index + 1));
      const input = zone.querySelector("input");
      zone.addEventListener("click", () => input.click());
      input.addEventListener("change", () => { if (input.files[0]) load(index, input.files[0]); });
      zone.addEventListener("dragover", e => { e.preventDefault(); zone.classList.add("over"); });
      zone.addEventListener("dragleave", () => zone.classList.remove("over"));
      zone.addEventListener("drop", e => {
        e.preventDefault();
        zone.classList.remove("over");
        if (e.dataTransfer.files[0]) load(index, e.dataTransfer.files[0]);
      });
    }
    setUp(0); setUp(1); setUp(2);

    async function load(index, file) {
      files[index] = file;
      bitmaps[index] = await createImageBitmap(file, { imageOrientation: "from-image" });
      draw(index, null);
      if (index === 2) single(); else verify();
    }

    function draw(index, area) { drawAll(index, area ? [area] : []); }

    function drawAll(index, areas) {
      const zone = document.getElementById("drop" + (index + 1));
      const canvas = zone.querySelector("canvas");
      const bitmap = bitmaps[index];
      if (!bitmap) return;
      canvas.width = bitmap.width;
      canvas.height = bitmap.height;
      const ctx = canvas.getContext("2d");
      ctx.drawImage(bitmap, 0, 0);
      zone.classList.add("loaded");
      const line = Math.max(2, Math.round(bitmap.width / 200));
      for (const [i, area] of areas.entries()) {
        ctx.lineWidth = line;
        ctx.strokeStyle = "#2af05a";
        ctx.strokeRect(area.x, area.y, area.w, area.h);
        if (areas.length > 1) {
          ctx.fillStyle = "#2af05a";
          ctx.font = Math.max(14, line * 8) + "px system-ui";
          ctx.fillText(String(i + 1), area.x + line, area.y - line * 2);
        }
        ctx.fillStyle = "#f0d12a";
        for (const eye of [area.left_eye, area.right_eye]) {
          if (!eye) continue;
          ctx.beginPath();
          ctx.arc(eye[0], eye[1], line * 1.5, 0, 2 * Math.PI);
          ctx.fill();
        }
      }
    }

    function authHeaders() {
      return keyInput.value ? { "X-API-Key": keyInput.value } : {};
    }

    async function call(route, form) {
      const response = await fetch(route, { method: "POST", body: form, headers: authHeaders() });
      return [response.status, await response.json()];
    }

    function pipelineForm(file) {
      const form = new FormData();
      form.append("img", file);
      form.append("model_name", document.getElementById("model").value);
      form.append("detector_backend", document.getElementById("detector").value);
      return form;
    }

    const statusLine = document.getElementById("search-status");
    const registerButton = document.getElementById("register");
    let searchGeneration = 0;

    function fillTable(table, header, rows) {
      table.replaceChildren();
      if (!rows.length) return;
      const head = table.createTHead().insertRow();
      for (const name of header) {
        const th = document.createElement("th");
        th.textContent = name;
        head.appendChild(th);
      }
      const body = table.createTBody();
      for (const [cls, cells] of rows) {
        const tr = body.insertRow();
        tr.className = cls;
        for (const value of cells) tr.insertCell().textContent = value;
      }
    }

    function single() { analyze(); search(); }

    const analysisLine = document.getElementById("analysis-status");
    let analysisGeneration = 0;

    // deepface's analyze: each face numbered on the photo, its attributes in the table.
    async function analyze() {
      const file = files[2];
      if (!file) return;
      const mine = ++analysisGeneration;
      analysisLine.textContent = "Analysing…";
      const table = document.getElementById("analysis");
      table.replaceChildren();
      const form = new FormData();
      form.append("img", file);
      form.append("detector_backend", document.getElementById("detector").value);
      let status, body;
      try {
        [status, body] = await call("analyze", form);
      } catch (err) {
        if (mine === analysisGeneration) analysisLine.textContent = "Request failed: " + err;
        return;
      }
      if (mine !== analysisGeneration) return;
      if (status !== 200) {
        drawAll(2, []);
        analysisLine.textContent = "Error " + status + ": " + (body.error || JSON.stringify(body));
        return;
      }
      const faces = body.results;
      drawAll(2, faces.map(f => f.region));
      const share = (scores, label) => scores ? label + " " + scores[label].toFixed(0) + " %" : "";
      analysisLine.textContent = "Analysis: " + faces.length + (faces.length === 1 ? " face" : " faces");
      fillTable(table, ["face", "age", "gender", "emotion", "race"], faces.map((f, i) => ["", [
        String(i + 1), f.age == null ? "–" : String(f.age),
        f.dominant_gender ? share(f.gender, f.dominant_gender) : "–",
        f.dominant_emotion ? share(f.emotion, f.dominant_emotion) : "–",
        f.dominant_race ? share(f.race, f.dominant_race) : (f.unavailable && f.unavailable.race ? "unavailable" : "–"),
      ]]));
    }

    // The five nearest stored faces of each face in the photo, whatever their
    // distance (deepface's similarity_search), each marked as a match or not.
    async function search() {
      const file = files[2];
      if (!file) return;
      const mine = ++searchGeneration;
      registerButton.disabled = false;
      statusLine.textContent = "Searching…";
      const table = document.getElementById("matches");
      table.replaceChildren();
      const form = pipelineForm(file);
      form.append("distance_metric", document.getElementById("metric").value);
      form.append("similarity_search", "true");
      form.append("k", "5");
      let status, body;
      try {
        [status, body] = await call("search", form);
      } catch (err) {
        if (mine === searchGeneration) statusLine.textContent = "Request failed: " + err;
        return;
      }
      if (mine !== searchGeneration) return;
      if (status !== 200) {
        statusLine.textContent = "Search: error " + status + ": " + (body.error || JSON.stringify(body));
        return;
      }
      const faces = body.results;
      const best = faces.map(f => f[0]).filter(m => m && m.distance <= m.threshold);
      statusLine.textContent = "Search: " + faces.length + (faces.length === 1 ? " face" : " faces") + "; " +
        (best.length ? "recognised: " + best.map(m => m.img_name).join(", ") : "no registered person matches");
      const rows = [];
      faces.forEach((matches, i) => {
        for (const m of matches) {
          const same = m.distance <= m.threshold;
          rows.push([same ? "match" : "", [same ? "match" : "", String(i + 1), m.img_name, m.distance.toFixed(4),
                                           String(m.threshold), m.confidence.toFixed(2) + " %"]]);
        }
      });
      fillTable(table, ["", "face", "name", "distance", "threshold", "confidence"], rows);
    }

    registerButton.addEventListener("click", async () => {
      const name = document.getElementById("name").value.trim();
      if (!files[2]) return;
      if (!name) { statusLine.textContent = "Give a name to register the faces under."; return; }
      const form = pipelineForm(files[2]);
      form.append("img_name", name);
      registerButton.disabled = true;
      statusLine.textContent = "Registering…";
      try {
        const [status, body] = await call("register", form);
        if (status !== 200) {
          statusLine.textContent = "Error " + status + ": " + (body.error || JSON.stringify(body));
          registerButton.disabled = false;
          return;
        }
      } catch (err) {
        statusLine.textContent = "Request failed: " + err;
        registerButton.disabled = false;
        return;
      }
      search();
    });

    function show(kind, decision, rows) {
      const box = document.getElementById("result");
      box.className = kind;
      document.getElementById("decision").textContent = decision;
      const table = document.getElementById("details");
      table.replaceChildren();
      for (const [name, value] of rows) {
        const tr = table.insertRow();
        tr.insertCell().textContent = name;
        tr.insertCell().textContent = value;
      }
    }

    let generation = 0;
    async function verify() {
      if (!files[0] || !files[1]) return;
      const mine = ++generation;
      show("", "Comparing…", []);
      const form = new FormData();
      form.append("img1", files[0]);
      form.append("img2", files[1]);
      form.append("model_name", document.getElementById("model").value);
      form.append("detector_backend", document.getElementById("detector").value);
      form.append("distance_metric", document.getElementById("metric").value);
      let body;
      let status = 0;
      try {
        [status, body] = await call("verify", form);
      } catch (err) {
        if (mine === generation) show("error", "Request failed: " + err, []);
        return;
      }
      if (mine !== generation) return;
      if (status !== 200) {
        draw(0, null); draw(1, null);
        show("error", "Error " + status + ": " + (body.error || JSON.stringify(body)), []);
        return;
      }
      draw(0, body.facial_areas.img1);
      draw(1, body.facial_areas.img2);
      show(body.verified ? "same" : "different", body.verified ? "Same person" : "Different people", [
        ["distance", body.distance.toFixed(4)],
        ["threshold", String(body.threshold)],
        ["confidence", body.confidence.toFixed(2) + " %"],
        ["model", body.model + ", " + body.detector_backend + ", " + body.similarity_metric],
        ["time", body.time + " s"],
      ]);
    }
    </script>
    </body>
    </html>
    """#
}

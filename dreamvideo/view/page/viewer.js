// dreamvideo view: the picture from /info drawn with WebGL, as the inside of a sphere
// (equirect: longitude along the width, top row the zenith) or as a flat, letterboxed quad.
// Stereo files show one eye: the top half (top-bottom) or the left half (left-right).
// First view from the URL: #yaw=DEG&pitch=DEG&fov=DEG (or ?yaw=...); yaw 0 looks at the
// middle of the picture, positive yaw turns right, positive pitch looks up, fov is vertical.
// window.viewer holds the state (tests read it): ready (a picture is drawn), mode, stereo, media,
// yaw, pitch, fov, draws, error; for a video also time (of the frame shown), seekable (seconds) and video.
"use strict";
(function () {
  const canvas = document.getElementById("view");
  const msg = document.getElementById("msg");
  const state = (window.viewer = {
    ready: false, mode: null, stereo: null, media: null, yaw: 0, pitch: 0, fov: 75, draws: 0, error: null,
    time: null, seekable: 0, video: null,
  });

  function fail(text) {
    state.error = text;
    msg.textContent = text;
    msg.style.display = "block";
  }

  function clamp(x, lo, hi) { return Math.min(hi, Math.max(lo, x)); }

  function readView() {
    const out = {};
    for (const part of [location.search.slice(1), location.hash.slice(1)]) {
      for (const [key, value] of new URLSearchParams(part)) {
        const x = parseFloat(value);
        if (Number.isFinite(x)) out[key] = x;
      }
    }
    if ("yaw" in out) state.yaw = out.yaw;
    if ("pitch" in out) state.pitch = clamp(out.pitch, -89, 89);
    if ("fov" in out) state.fov = clamp(out.fov, 20, 120);
  }

  // ---- 4x4 matrices, column-major as WebGL wants them
  function perspective(fovyDeg, aspect, near, far) {
    const f = 1 / Math.tan((fovyDeg * Math.PI) / 360), m = new Float32Array(16);
    m[0] = f / aspect; m[5] = f; m[10] = (far + near) / (near - far); m[11] = -1; m[14] = (2 * far * near) / (near - far);
    return m;
  }
  function rotX(deg) {
    const a = (deg * Math.PI) / 180, c = Math.cos(a), s = Math.sin(a), m = new Float32Array(16);
    m[0] = 1; m[5] = c; m[6] = s; m[9] = -s; m[10] = c; m[15] = 1;
    return m;
  }
  function rotY(deg) {
    const a = (deg * Math.PI) / 180, c = Math.cos(a), s = Math.sin(a), m = new Float32Array(16);
    m[0] = c; m[2] = -s; m[5] = 1; m[8] = s; m[10] = c; m[15] = 1;
    return m;
  }
  function mul(a, b) {
    const m = new Float32Array(16);
    for (let c = 0; c < 4; c++) for (let r = 0; r < 4; r++) {
      let v = 0;
      for (let k = 0; k < 4; k++) v += a[k * 4 + r] * b[c * 4 + k];
      m[c * 4 + r] = v;
    }
    return m;
  }

  // ---- WebGL
  const gl = canvas.getContext("webgl", { preserveDrawingBuffer: true, antialias: false, alpha: false });
  if (!gl) { fail("This browser has no WebGL, which the viewer needs."); return; }

  const VERTEX = `
    attribute vec3 aPos; attribute vec2 aUv;
    uniform mat4 uMatrix; uniform vec4 uCrop;  // eye rectangle in texture space: offset xy, size zw
    varying vec2 vUv;
    void main() { vUv = uCrop.xy + aUv * uCrop.zw; gl_Position = uMatrix * vec4(aPos, 1.0); }`;
  const FRAGMENT = `
    #ifdef GL_FRAGMENT_PRECISION_HIGH
    precision highp float;
    #else
    precision mediump float;
    #endif
    varying vec2 vUv; uniform sampler2D uTex;
    void main() { gl_FragColor = texture2D(uTex, vUv); }`;

  function shader(type, source) {
    const s = gl.createShader(type);
    gl.shaderSource(s, source);
    gl.compileShader(s);
    if (!gl.getShaderParameter(s, gl.COMPILE_STATUS)) throw new Error(gl.getShaderInfoLog(s));
    return s;
  }
  const program = gl.createProgram();
  gl.attachShader(program, shader(gl.VERTEX_SHADER, VERTEX));
  gl.attachShader(program, shader(gl.FRAGMENT_SHADER, FRAGMENT));
  gl.linkProgram(program);
  if (!gl.getProgramParameter(program, gl.LINK_STATUS)) { fail(gl.getProgramInfoLog(program)); return; }
  gl.useProgram(program);
  const loc = {
    pos: gl.getAttribLocation(program, "aPos"), uv: gl.getAttribLocation(program, "aUv"),
    matrix: gl.getUniformLocation(program, "uMatrix"), crop: gl.getUniformLocation(program, "uCrop"),
  };

  function mesh(positions, uvs, indices) {
    const buffer = (target, data) => {
      const b = gl.createBuffer();
      gl.bindBuffer(target, b);
      gl.bufferData(target, data, gl.STATIC_DRAW);
      return b;
    };
    return {
      pos: buffer(gl.ARRAY_BUFFER, new Float32Array(positions)),
      uv: buffer(gl.ARRAY_BUFFER, new Float32Array(uvs)),
      index: buffer(gl.ELEMENT_ARRAY_BUFFER, new Uint16Array(indices)),
      count: indices.length,
    };
  }

  // The sphere seen from inside: vertex (lon, lat) sits at direction
  // (cos lat sin lon, sin lat, -cos lat cos lon) with texture (0.5 + lon/2pi, 0.5 - lat/pi).
  function sphere(rows, cols) {
    const p = [], t = [], idx = [];
    for (let i = 0; i <= rows; i++) {
      const lat = Math.PI / 2 - (i / rows) * Math.PI;
      for (let j = 0; j <= cols; j++) {
        const lon = (j / cols) * 2 * Math.PI - Math.PI;
        p.push(Math.cos(lat) * Math.sin(lon), Math.sin(lat), -Math.cos(lat) * Math.cos(lon));
        t.push(j / cols, i / rows);
      }
    }
    for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) {
      const a = i * (cols + 1) + j, b = a + cols + 1;
      idx.push(a, b, a + 1, a + 1, b, b + 1);
    }
    return mesh(p, t, idx);
  }
  const quad = () => mesh([-1, 1, 0, -1, -1, 0, 1, 1, 0, 1, -1, 0], [0, 0, 0, 1, 1, 0, 1, 1], [0, 1, 2, 2, 1, 3]);

  const texture = gl.createTexture();
  gl.bindTexture(gl.TEXTURE_2D, texture);
  // Any size (WebGL 1 wraps only powers of two): clamp, no mipmaps.
  gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_WRAP_S, gl.CLAMP_TO_EDGE);
  gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_WRAP_T, gl.CLAMP_TO_EDGE);
  gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MIN_FILTER, gl.LINEAR);
  gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MAG_FILTER, gl.LINEAR);
  gl.pixelStorei(gl.UNPACK_COLORSPACE_CONVERSION_WEBGL, gl.NONE);
  const maxSize = gl.getParameter(gl.MAX_TEXTURE_SIZE);
  let shrink = null;  // a 2D canvas for pictures larger than the GPU's texture limit

  function upload(element, width, height) {
    let source = element;
    if (width > maxSize || height > maxSize) {
      const s = maxSize / Math.max(width, height);
      shrink = shrink || document.createElement("canvas");
      shrink.width = Math.floor(width * s); shrink.height = Math.floor(height * s);
      shrink.getContext("2d").drawImage(element, 0, 0, shrink.width, shrink.height);
      source = shrink;
    }
    gl.texImage2D(gl.TEXTURE_2D, 0, gl.RGBA, gl.RGBA, gl.UNSIGNED_BYTE, source);
  }

  // ---- drawing
  let info = null, shape = null, crop = [0, 0, 1, 1], hasPicture = false, dirty = true;

  function resize() {
    const dpr = window.devicePixelRatio || 1;
    const w = Math.max(1, Math.round(canvas.clientWidth * dpr)), h = Math.max(1, Math.round(canvas.clientHeight * dpr));
    if (canvas.width !== w || canvas.height !== h) { canvas.width = w; canvas.height = h; dirty = true; }
  }

  function matrix() {
    const aspect = canvas.width / canvas.height;
    if (state.mode === "equirect") {
      // world -> camera is the inverse of camera -> world = rotY(-yaw) * rotX(pitch)
      const view = mul(rotX(-state.pitch), rotY(state.yaw));
      return mul(perspective(state.fov, aspect, 0.05, 10), view);
    }
    const eye = (info.width * crop[2]) / (info.height * crop[3]);  // letterbox the eye's picture
    const m = new Float32Array(16);
    m[0] = eye > aspect ? 1 : eye / aspect; m[5] = eye > aspect ? aspect / eye : 1; m[10] = 1; m[15] = 1;
    return m;
  }

  function draw() {
    resize();
    gl.viewport(0, 0, canvas.width, canvas.height);
    gl.clearColor(0, 0, 0, 1);
    gl.clear(gl.COLOR_BUFFER_BIT);
    if (!hasPicture) return;
    gl.bindBuffer(gl.ARRAY_BUFFER, shape.pos);
    gl.enableVertexAttribArray(loc.pos);
    gl.vertexAttribPointer(loc.pos, 3, gl.FLOAT, false, 0, 0);
    gl.bindBuffer(gl.ARRAY_BUFFER, shape.uv);
    gl.enableVertexAttribArray(loc.uv);
    gl.vertexAttribPointer(loc.uv, 2, gl.FLOAT, false, 0, 0);
    gl.bindBuffer(gl.ELEMENT_ARRAY_BUFFER, shape.index);
    gl.uniformMatrix4fv(loc.matrix, false, matrix());
    gl.uniform4fv(loc.crop, crop);
    gl.drawElements(gl.TRIANGLES, shape.count, gl.UNSIGNED_SHORT, 0);
    state.draws += 1;
    state.ready = true;
  }

  let video = null, lastFrameTime = -1;
  function frame() {
    if (video && video.readyState >= 2 && video.currentTime !== lastFrameTime) {
      upload(video, video.videoWidth, video.videoHeight);
      lastFrameTime = state.time = video.currentTime;
      state.seekable = video.seekable.length ? video.seekable.end(video.seekable.length - 1) : 0;
      hasPicture = true;
      dirty = true;
      updateBar();
    }
    if (dirty) { dirty = false; draw(); }
    requestAnimationFrame(frame);
  }

  // ---- looking around: drag (mouse, touch, pen), wheel to zoom, arrow keys
  let drag = null;
  canvas.addEventListener("pointerdown", (e) => {
    if (state.mode !== "equirect") return;
    drag = { x: e.clientX, y: e.clientY, yaw: state.yaw, pitch: state.pitch };
    canvas.setPointerCapture(e.pointerId);
    canvas.classList.add("dragging");
  });
  canvas.addEventListener("pointermove", (e) => {
    if (!drag) return;
    const perPixel = state.fov / canvas.clientHeight;  // the picture follows the pointer
    state.yaw = drag.yaw - (e.clientX - drag.x) * perPixel;
    state.pitch = clamp(drag.pitch + (e.clientY - drag.y) * perPixel, -89, 89);
    dirty = true;
  });
  function endDrag() {
    if (!drag) return;
    drag = null;
    canvas.classList.remove("dragging");
    remember();
  }
  canvas.addEventListener("pointerup", endDrag);
  canvas.addEventListener("pointercancel", endDrag);
  canvas.addEventListener("wheel", (e) => {
    if (state.mode !== "equirect") return;
    e.preventDefault();
    state.fov = clamp(state.fov * Math.exp(e.deltaY * 0.001), 20, 120);
    dirty = true;
    remember();
  }, { passive: false });
  window.addEventListener("keydown", (e) => {
    if (state.mode !== "equirect") return;
    const step = { ArrowLeft: [-5, 0], ArrowRight: [5, 0], ArrowUp: [0, 5], ArrowDown: [0, -5] }[e.key];
    if (!step) return;
    state.yaw += step[0];
    state.pitch = clamp(state.pitch + step[1], -89, 89);
    dirty = true;
    remember();
  });
  function remember() {  // the address always holds the current view, to share or reload
    const r = (x) => Math.round(x * 10) / 10;
    history.replaceState(null, "", `#yaw=${r(state.yaw)}&pitch=${r(state.pitch)}&fov=${r(state.fov)}`);
  }
  window.addEventListener("resize", () => { dirty = true; });
  window.addEventListener("hashchange", () => { readView(); dirty = true; });

  // ---- video controls
  const bar = document.getElementById("bar"), playButton = document.getElementById("play");
  const seek = document.getElementById("seek"), time = document.getElementById("time");
  const muteButton = document.getElementById("mute");
  const clock = (s) => `${Math.floor(s / 60)}:${String(Math.floor(s % 60)).padStart(2, "0")}`;
  function updateBar() {
    if (!video) return;
    playButton.textContent = video.paused ? "play" : "pause";
    muteButton.textContent = video.muted ? "sound" : "mute";
    if (Number.isFinite(video.duration) && video.duration > 0) {
      if (document.activeElement !== seek) seek.value = String(Math.round((video.currentTime / video.duration) * 1000));
      time.textContent = `${clock(video.currentTime)} / ${clock(video.duration)}`;
    }
  }
  playButton.addEventListener("click", () => { if (video.paused) video.play(); else video.pause(); });
  muteButton.addEventListener("click", () => { video.muted = !video.muted; updateBar(); });
  seek.addEventListener("input", () => {
    if (Number.isFinite(video.duration)) video.currentTime = (Number(seek.value) / 1000) * video.duration;
  });

  // ---- start
  function start(data) {
    info = data;
    state.mode = info.projection;
    state.stereo = info.stereo;
    state.media = info.media;
    document.body.dataset.mode = info.projection;
    document.title = `${info.name} - dreamvideo view`;
    crop = { "top-bottom": [0, 0, 1, 0.5], "left-right": [0, 0, 0.5, 1] }[info.stereo] || [0, 0, 1, 1];
    shape = info.projection === "equirect" ? sphere(64, 128) : quad();
    readView();
    if (info.media === "image") {
      const img = new Image();
      img.onload = () => { upload(img, img.naturalWidth, img.naturalHeight); hasPicture = true; dirty = true; };
      img.onerror = () => fail(`The browser cannot decode ${info.name}.`);
      img.src = info.url;
    } else {
      video = state.video = document.createElement("video");
      video.muted = true;  // browsers only autoplay muted video; the sound button unmutes
      video.loop = true;
      video.playsInline = true;
      video.preload = "auto";
      video.onerror = () => fail(`The browser cannot play ${info.name} (${video.error && video.error.message || "unsupported"}).`);
      for (const name of ["play", "pause", "durationchange", "volumechange"]) video.addEventListener(name, updateBar);
      video.src = info.url;
      bar.style.display = "flex";
      video.play().catch(() => updateBar());  // no autoplay: the play button starts it
    }
    requestAnimationFrame(frame);
  }

  fetch("/info")
    .then((r) => { if (!r.ok) throw new Error(r.status); return r.json(); })
    .then(start)
    .catch((e) => fail(`Cannot read /info from the dreamvideo server: ${e.message}`));
})();

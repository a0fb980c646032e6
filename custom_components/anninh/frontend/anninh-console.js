// The duty officer's console ("An ninh" in the sidebar): video wall, alarms, playback and export,
// announcements. A plain web component (no build step, nothing loaded from the internet); all
// data comes over the user's Home Assistant WebSocket (see custom_components/anninh/console.py).

const LABELS = {
  en: {
    title: "Security",
    wall: "Video wall",
    playback: "Playback",
    announce: "Announce",
    startShift: "Start shift",
    soundOn: "Alarm sound on",
    soundBlocked: "Alarm sound is blocked by the browser: click “Start shift”",
    soundOff: "Alarm sound is off: click “Start shift”",
    layout: "Layout",
    page: "Page",
    cycle: "Cycle",
    everyone: "all",
    offline: "Offline",
    reconnecting: "Reconnecting",
    since: "since",
    motion: "Motion",
    noCameras: "No camera yet. Add one under Settings → Devices & services → An Ninh.",
    noStation: "No station yet. Add the An Ninh integration under Settings → Devices & services.",
    noVideo: "No video",
    enlarge: "Enlarge",
    fullscreen: "Full screen",
    close: "Close",
    alarm: "ALARM",
    priority: { low: "Low", normal: "Normal", high: "High", critical: "Critical" },
    pressTypes: { press: "pressed", long_press: "held down", double_press: "pressed twice" },
    pressedAt: "Pressed at",
    ago: "ago",
    note: "Note (optional)",
    acknowledge: "Acknowledge",
    moreAlarms: "More alarms waiting",
    linkedCameras: "Linked cameras",
    noLinked: "No camera is linked to this bell.",
    map: "Map",
    noPosition: "No position set",
    showWall: "Show the wall",
    showAlarm: "Show the alarm",
    status: "Status",
    allWell: "All cameras online, all bells signalling",
    camerasOffline: "offline",
    bellSilent: "silent since",
    lastAck: "Last acknowledged",
    by: "by",
    camera: "Camera",
    day: "Day",
    speed: "Speed",
    zoom: "Zoom",
    prevEvent: "Previous event",
    nextEvent: "Next event",
    rangeStart: "Start here",
    rangeEnd: "End here",
    range: "Range",
    noRange: "Drag on the timeline, or use “Start here” / “End here”, to choose a range",
    caseNumber: "Case number",
    reason: "Reason",
    exportEvidence: "Export evidence",
    exporting: "Making the evidence file…",
    exported: "Downloaded",
    needCase: "Enter a case number first",
    clickToPlay: "Click the timeline to play from there",
    recorded: "Recorded",
    gap: "No recording",
    marked: "Marked",
    noRecording: "Nothing recorded this day",
    loading: "Loading…",
    message: "Message",
    preset: "Saved message",
    choosePreset: "— choose —",
    savePreset: "Save as preset",
    presetTitle: "Name of the preset",
    chime: "Chime",
    chimes: { none: "None", bell: "Bell", gong: "Gong", siren: "Siren" },
    loudspeakers: "Loudspeakers",
    language: "Language",
    languages: { vi: "Vietnamese", en: "English" },
    send: "Announce",
    sending: "Announcing…",
    played: "Played",
    statuses: {
      done: "played",
      started: "started",
      fallback: "played (offline voice)",
      failed: "failed",
      unavailable: "unavailable",
    },
    noLoudspeakers: "No loudspeaker yet.",
    errors: {
      not_streaming: "Camera not streaming",
      too_many_viewers: "Too many viewers",
      not_found: "Camera removed",
      unsupported_codec: "Codec not supported",
    },
  },
  vi: {
    title: "An ninh",
    wall: "Màn hình camera",
    playback: "Xem lại",
    announce: "Phát thanh",
    startShift: "Bắt đầu ca trực",
    soundOn: "Đã bật chuông báo động",
    soundBlocked: "Trình duyệt đang chặn âm thanh báo động: bấm “Bắt đầu ca trực”",
    soundOff: "Chưa bật âm thanh báo động: bấm “Bắt đầu ca trực”",
    layout: "Bố cục",
    page: "Trang",
    cycle: "Tự chuyển trang",
    everyone: "tất cả",
    offline: "Mất kết nối",
    reconnecting: "Đang kết nối lại",
    since: "từ",
    motion: "Chuyển động",
    noCameras: "Chưa có camera. Thêm camera tại Cài đặt → Thiết bị & dịch vụ → An Ninh.",
    noStation: "Chưa có trạm. Thêm tích hợp An Ninh tại Cài đặt → Thiết bị & dịch vụ.",
    noVideo: "Không có hình",
    enlarge: "Phóng to",
    fullscreen: "Toàn màn hình",
    close: "Đóng",
    alarm: "BÁO ĐỘNG",
    priority: { low: "Thấp", normal: "Bình thường", high: "Cao", critical: "Khẩn cấp" },
    pressTypes: { press: "được bấm", long_press: "được giữ", double_press: "được bấm hai lần" },
    pressedAt: "Bấm lúc",
    ago: "trước",
    note: "Ghi chú (không bắt buộc)",
    acknowledge: "Xác nhận",
    moreAlarms: "Báo động đang chờ",
    linkedCameras: "Camera liên kết",
    noLinked: "Chuông này chưa liên kết camera nào.",
    map: "Bản đồ",
    noPosition: "Chưa có vị trí",
    showWall: "Xem màn hình camera",
    showAlarm: "Xem báo động",
    status: "Trạng thái",
    allWell: "Mọi camera đều trực tuyến, mọi chuông đều báo tín hiệu",
    camerasOffline: "mất kết nối",
    bellSilent: "im lặng từ",
    lastAck: "Xác nhận gần nhất",
    by: "bởi",
    camera: "Camera",
    day: "Ngày",
    speed: "Tốc độ",
    zoom: "Thu phóng",
    prevEvent: "Sự kiện trước",
    nextEvent: "Sự kiện sau",
    rangeStart: "Bắt đầu từ đây",
    rangeEnd: "Kết thúc ở đây",
    range: "Khoảng",
    noRange: "Kéo trên dòng thời gian, hoặc dùng “Bắt đầu từ đây” / “Kết thúc ở đây”, để chọn khoảng",
    caseNumber: "Số hồ sơ vụ việc",
    reason: "Lý do",
    exportEvidence: "Trích xuất chứng cứ",
    exporting: "Đang tạo tệp chứng cứ…",
    exported: "Đã tải về",
    needCase: "Nhập số hồ sơ vụ việc trước",
    clickToPlay: "Bấm vào dòng thời gian để xem từ thời điểm đó",
    recorded: "Có ghi hình",
    gap: "Không ghi hình",
    marked: "Đã đánh dấu",
    noRecording: "Ngày này không có ghi hình",
    loading: "Đang tải…",
    message: "Nội dung",
    preset: "Mẫu đã lưu",
    choosePreset: "— chọn —",
    savePreset: "Lưu thành mẫu",
    presetTitle: "Tên mẫu",
    chime: "Chuông",
    chimes: { none: "Không", bell: "Chuông", gong: "Chiêng", siren: "Còi hụ" },
    loudspeakers: "Loa",
    language: "Ngôn ngữ",
    languages: { vi: "Tiếng Việt", en: "Tiếng Anh" },
    send: "Phát thông báo",
    sending: "Đang phát…",
    played: "Đã phát",
    statuses: {
      done: "đã phát",
      started: "đang phát",
      fallback: "đã phát (giọng ngoại tuyến)",
      failed: "lỗi",
      unavailable: "không khả dụng",
    },
    noLoudspeakers: "Chưa có loa.",
    errors: {
      not_streaming: "Camera chưa có hình",
      too_many_viewers: "Quá nhiều người xem",
      not_found: "Camera đã bị xoá",
      unsupported_codec: "Định dạng không hỗ trợ",
    },
  },
};

const BUILT_IN_PRESETS = {
  vi: [
    {
      title: "Cảnh giác trộm cắp",
      message:
        "Công an xã thông báo: đề nghị bà con khóa cửa, cất giữ tài sản cẩn thận, phát hiện người lạ khả nghi báo ngay cho công an xã.",
    },
    {
      title: "Cháy",
      message:
        "Thông báo khẩn: đang có cháy trong khu vực. Bà con giữ bình tĩnh, tránh xa khu vực cháy và nhường đường cho lực lượng chữa cháy.",
      chime: "siren",
    },
    {
      title: "Đổ rác trái phép",
      message:
        "Công an xã nhắc nhở: nghiêm cấm đổ rác, phế thải không đúng nơi quy định. Mọi vi phạm đều được camera ghi lại và xử lý theo quy định.",
    },
  ],
  en: [
    {
      title: "Theft warning",
      message:
        "The commune police remind everyone to lock their doors and report anyone suspicious to the station.",
      language: "en",
    },
  ],
};

const PRIORITY_RANK = { critical: 0, high: 1, normal: 2, low: 3 };
const LAYOUTS = [1, 4, 9, 16];
const CYCLE_SECONDS = 20;
const ZOOMS = [86400, 3600, 600]; // the timeline's widths: a day, an hour, ten minutes
const CHUNK_SECONDS = 600; // playback is fetched ten minutes at a time
const RETRY_MS = 3000;

function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key === "class") el.className = value;
    else if (key === "style") el.style.cssText = value;
    else if (key in el && key !== "list") el[key] = value;
    else el.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

// Like replaceChildren, without the "null" text of a child left out.
function fill(el, ...children) {
  el.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
  return el;
}

// The offer goes out complete (the relay answers in one go): when gathering completes, or a
// moment after the first candidate (host candidates come together; a browser may take seconds
// to declare gathering complete), or after `ms` at most.
function waitForIce(pc, ms) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    let timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      pc.removeEventListener("icegatheringstatechange", changed);
      pc.removeEventListener("icecandidate", candidate);
      resolve();
    }
    function changed() {
      if (pc.iceGatheringState === "complete") done();
    }
    function candidate(ev) {
      if (!ev.candidate) return done();
      clearTimeout(timer);
      timer = setTimeout(done, 100);
    }
    pc.addEventListener("icegatheringstatechange", changed);
    pc.addEventListener("icecandidate", candidate);
  });
}

// One WebRTC session on a camera's relay, shown in every <video> attached to it.
class LiveStream {
  constructor(view, camera, small) {
    this.view = view;
    this.camera = camera;
    this.small = small;
    this.videos = new Set();
    this.media = null;
    this.error = null;
    this.closed = false;
    this.start();
  }

  async start() {
    if (this.closed) return;
    const pc = new RTCPeerConnection({ iceServers: [] });
    this.pc = pc;
    pc.addTransceiver("video", { direction: "recvonly" });
    pc.addEventListener("track", (ev) => {
      this.media = ev.streams[0] || new MediaStream([ev.track]);
      this.error = null;
      for (const video of this.videos) this.show(video);
    });
    pc.addEventListener("connectionstatechange", () => {
      if (["failed", "closed"].includes(pc.connectionState) && this.pc === pc) this.retry();
    });
    try {
      await pc.setLocalDescription(await pc.createOffer());
      await waitForIce(pc, 1000);
      if (this.closed || this.pc !== pc) return pc.close();
      const unsubscribe = await this.view.hass.connection.subscribeMessage(
        (event) => {
          if (event.answer && this.pc === pc)
            pc.setRemoteDescription({ type: "answer", sdp: event.answer }).catch((err) => this.fail(err));
        },
        {
          type: "anninh/live/subscribe",
          camera: this.camera,
          offer: pc.localDescription.sdp,
          small: this.small,
        },
      );
      if (this.closed || this.pc !== pc) return unsubscribe();
      this.unsubscribe = unsubscribe;
    } catch (err) {
      this.fail(err);
    }
  }

  fail(err) {
    this.error = (err && (err.code || err.message)) || "error";
    for (const video of this.videos) this.view.tileError(video, this.error);
    this.retry();
  }

  retry() {
    this.stop();
    if (!this.closed) this.timer = setTimeout(() => this.start(), RETRY_MS);
  }

  stop() {
    const pc = this.pc;
    this.pc = null;
    if (this.unsubscribe) this.unsubscribe().catch(() => {});
    this.unsubscribe = null;
    if (pc) pc.close();
  }

  show(video) {
    if (this.media && video.srcObject !== this.media) {
      video.srcObject = this.media;
      video.play().catch(() => {});
    }
    if (this.media) this.view.tileError(video, null);
  }

  close() {
    this.closed = true;
    clearTimeout(this.timer);
    this.stop();
  }
}

class AnninhConsole extends HTMLElement {
  constructor() {
    super();
    this.attachShadow({ mode: "open" });
    this.stations = [];
    this.tab = "wall";
    this.layout = Number(localStorage.getItem("anninh-console-layout")) || 4; // this screen's choice
    this.page = 0;
    this.cycling = false;
    this.enlarged = null;
    this.alarmCollapsed = false;
    this.selectedAlarm = null;
    this.streams = new Map();
    this.visible = new WeakMap();
    this.beeps = 0;
    this.playback = { camera: null, day: null, timeline: null, chunk: null, range: {} };
    this.presets = null;
    this.observer = new IntersectionObserver((entries) => {
      for (const entry of entries) this.visible.set(entry.target, entry.isIntersecting);
      this.syncStreams();
    });
    this.onVisibility = () => this.syncStreams();
  }

  // -- Home Assistant hands us these ------------------------------------------------------------
  set hass(hass) {
    const first = !this._hass;
    this._hass = hass;
    const lang = (hass.locale?.language || hass.language || "en").startsWith("vi") ? "vi" : "en";
    if (lang !== this.lang) {
      this.lang = lang;
      if (!first) this.render();
    }
    if (first && this.isConnected) this.subscribe();
  }

  get hass() {
    return this._hass;
  }

  set narrow(narrow) {
    this._narrow = narrow;
  }

  set panel(_panel) {}

  get t() {
    return LABELS[this.lang || "en"];
  }

  connectedCallback() {
    document.addEventListener("visibilitychange", this.onVisibility);
    // Running at once where the browser allows sound without a click (a kiosk, a site the
    // officer uses every day); else suspended until "Start shift".
    const Context = window.AudioContext || window.webkitAudioContext;
    if (!this.audio && Context) this.audio = new Context();
    this.clock = setInterval(() => this.tick(), 1000);
    if (this._hass) this.subscribe();
    this.render();
  }

  disconnectedCallback() {
    document.removeEventListener("visibilitychange", this.onVisibility);
    clearInterval(this.clock);
    clearInterval(this.cycleTimer);
    clearInterval(this.beepTimer);
    this.beepTimer = null;
    if (this.unsubscribe) this.unsubscribe.then((unsub) => unsub()).catch(() => {});
    this.unsubscribe = null;
    for (const stream of this.streams.values()) stream.close();
    this.streams.clear();
  }

  subscribe() {
    if (this.unsubscribe) return;
    this.unsubscribe = this._hass.connection.subscribeMessage((event) => this.onEvent(event), {
      type: "anninh/console/subscribe",
    });
  }

  onEvent(event) {
    if (event.type === "snapshot") {
      this.loaded = true;
      this.stations = event.stations;
      for (const stream of this.streams.values()) stream.close(); // devices may be new ones
      this.streams.clear();
      this.render();
      return;
    }
    const station = this.stations.find((s) => s.entry_id === event.entry_id);
    if (!station) return;
    const index = station.devices.findIndex((d) => d.id === event.device.id);
    const before = station.devices[index];
    station.devices[index] = event.device;
    if (event.device.kind === "bell") {
      if (Boolean(before?.alarm) !== Boolean(event.device.alarm) || event.device.alarm) {
        this.renderAlarm();
        this.renderStatus();
      } else this.renderStatus();
    } else if (event.device.kind === "camera") {
      this.updateTiles(event.device);
      this.renderStatus();
    }
  }

  // -- what the stations hold --------------------------------------------------------------------
  devices(kind) {
    return this.stations.flatMap((s) =>
      s.devices.filter((d) => d.kind === kind).map((d) => ({ ...d, entry_id: s.entry_id })),
    );
  }

  device(id) {
    for (const station of this.stations) {
      const found = station.devices.find((d) => d.id === id);
      if (found) return { ...found, entry_id: station.entry_id };
    }
    return null;
  }

  activeAlarms() {
    return this.devices("bell")
      .filter((b) => b.alarm)
      .sort(
        (a, b) =>
          (PRIORITY_RANK[a.priority] ?? 2) - (PRIORITY_RANK[b.priority] ?? 2) ||
          String(a.pressed_at).localeCompare(String(b.pressed_at)),
      );
  }

  // -- time ------------------------------------------------------------------------------------------
  get timeZone() {
    return this._hass?.config?.time_zone;
  }

  fmt(date, options) {
    try {
      return new Intl.DateTimeFormat(this.lang === "vi" ? "vi-VN" : "en-GB", {
        timeZone: this.timeZone,
        ...options,
      }).format(date);
    } catch (_err) {
      return new Intl.DateTimeFormat(undefined, options).format(date);
    }
  }

  time(date) {
    return this.fmt(date, { hour: "2-digit", minute: "2-digit", second: "2-digit" });
  }

  when(date) {
    const today = this.fmt(new Date(), { year: "numeric", month: "2-digit", day: "2-digit" });
    const day = this.fmt(date, { year: "numeric", month: "2-digit", day: "2-digit" });
    return day === today ? this.time(date) : `${this.time(date)} ${day}`;
  }

  ago(date) {
    const seconds = Math.max(0, Math.round((Date.now() - date.getTime()) / 1000));
    const text =
      seconds < 60
        ? `${seconds} s`
        : seconds < 3600
          ? `${Math.floor(seconds / 60)} min`
          : `${Math.floor(seconds / 3600)} h ${Math.floor((seconds % 3600) / 60)} min`;
    return `${text} ${this.t.ago}`;
  }

  today() {
    // The station's day (the timeline's `day` is a day of Home Assistant's time zone).
    const parts = new Intl.DateTimeFormat("en-CA", {
      timeZone: this.timeZone,
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
    }).formatToParts(new Date());
    const part = (type) => parts.find((p) => p.type === type).value;
    return `${part("year")}-${part("month")}-${part("day")}`;
  }

  tick() {
    const clock = this.shadowRoot.querySelector(".clock");
    if (clock)
      clock.textContent = this.fmt(new Date(), { hour: "2-digit", minute: "2-digit", second: "2-digit" });
    const ago = this.shadowRoot.querySelector(".alarm-ago");
    if (ago && ago.dataset.at) ago.textContent = this.ago(new Date(ago.dataset.at));
    if (this.activeAlarms().length)
      document.title = document.title.startsWith("⚠") ? this.t.title : `⚠ ${this.t.alarm}`;
  }

  // -- sound -------------------------------------------------------------------------------------------
  startShift() {
    if (this.audio) this.audio.resume().finally(() => this.renderSound());
    this.shiftStarted = true;
    this.renderSound();
  }

  beep() {
    const ctx = this.audio;
    if (!ctx || ctx.state !== "running") {
      this.renderSound();
      return;
    }
    const now = ctx.currentTime;
    for (const [offset, freq] of [
      [0, 880],
      [0.3, 660],
    ]) {
      const osc = ctx.createOscillator();
      const gain = ctx.createGain();
      osc.type = "square";
      osc.frequency.value = freq;
      gain.gain.setValueAtTime(0.0001, now + offset);
      gain.gain.exponentialRampToValueAtTime(0.25, now + offset + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, now + offset + 0.28);
      osc.connect(gain).connect(ctx.destination);
      osc.start(now + offset);
      osc.stop(now + offset + 0.3);
    }
    this.beeps += 1;
    this.dataset.beeps = String(this.beeps);
  }

  syncSound() {
    const sounding = this.activeAlarms().length > 0;
    this.dataset.sounding = String(sounding);
    if (sounding && !this.beepTimer) {
      this.beep();
      this.beepTimer = setInterval(() => this.beep(), 1500);
    } else if (!sounding && this.beepTimer) {
      clearInterval(this.beepTimer);
      this.beepTimer = null;
      document.title = this.t.title;
    }
  }

  renderSound() {
    const box = this.shadowRoot.querySelector(".sound");
    if (!box) return;
    const state = this.audio ? this.audio.state : "none";
    fill(
      box,
      state === "running"
        ? h("span", { class: "ok" }, this.t.soundOn)
        : h("span", { class: "warn" }, state === "none" ? this.t.soundOff : this.t.soundBlocked),
    );
    if (state !== "running")
      box.append(
        h("button", { class: "primary start-shift", onclick: () => this.startShift() }, this.t.startShift),
      );
    this.dataset.sound = state;
  }

  // -- the page ----------------------------------------------------------------------------------------
  render() {
    if (!this.shadowRoot) return;
    const t = this.t;
    const root = this.shadowRoot;
    fill(
      root,
      h("style", {}, STYLE),
      h(
        "header",
        {},
        h(
          "button",
          {
            class: "menu",
            title: "Menu",
            onclick: () =>
              this.dispatchEvent(new Event("hass-toggle-menu", { bubbles: true, composed: true })),
          },
          "☰",
        ),
        h("h1", {}, this.stations.map((s) => s.name).join(" · ") || t.title),
        h(
          "nav",
          {},
          ["wall", "playback", "announce"].map((tab) =>
            h(
              "button",
              {
                class: tab === this.tab ? "tab active" : "tab",
                "data-tab": tab,
                onclick: () => this.setTab(tab),
              },
              t[tab],
            ),
          ),
        ),
        h("div", { class: "sound" }),
        h("div", { class: "clock" }),
      ),
      h("div", { class: "status" }),
      h("div", { class: "alarm-area" }),
      h("main", {}),
    );
    this.renderSound();
    this.renderStatus();
    this.renderMain();
    this.renderAlarm();
    this.tick();
  }

  setTab(tab) {
    this.tab = tab;
    for (const button of this.shadowRoot.querySelectorAll("nav .tab"))
      button.classList.toggle("active", button.dataset.tab === tab);
    this.renderMain();
  }

  renderMain() {
    const main = this.shadowRoot.querySelector("main");
    if (!main) return;
    clearInterval(this.cycleTimer);
    this.cycleTimer = null;
    if (!this.loaded) {
      fill(main, h("p", { class: "empty muted" }, this.t.loading));
    } else if (!this.stations.length) {
      fill(main, h("p", { class: "empty" }, this.t.noStation));
    } else if (this.tab === "wall") {
      fill(main, this.wall());
      if (this.cycling) this.cycleTimer = setInterval(() => this.turnPage(1), CYCLE_SECONDS * 1000);
    } else if (this.tab === "playback") {
      fill(main, this.playbackView());
    } else {
      fill(main, this.announceView());
    }
    this.syncStreams();
  }

  renderStatus() {
    const box = this.shadowRoot.querySelector(".status");
    if (!box) return;
    const t = this.t;
    const items = [];
    for (const camera of this.devices("camera")) {
      if (camera.state === "offline")
        items.push(
          h(
            "span",
            { class: "bad" },
            `${camera.name} ${t.camerasOffline} ${t.since} ${this.when(new Date(camera.since * 1000))}`,
          ),
        );
    }
    for (const bell of this.devices("bell")) {
      if (!bell.connected)
        items.push(
          h(
            "span",
            { class: "warn" },
            `${bell.name} ${t.bellSilent} ${bell.last_signal ? this.when(new Date(bell.last_signal)) : "—"}`,
          ),
        );
    }
    const acked = this.devices("bell")
      .filter((b) => b.acknowledged_at && !b.alarm)
      .sort((a, b) => b.acknowledged_at.localeCompare(a.acknowledged_at))[0];
    fill(
      box,
      h("strong", {}, t.status, ": "),
      ...(items.length ? items : [h("span", { class: "ok" }, t.allWell)]),
    );
    if (acked)
      box.append(
        h(
          "span",
          { class: "muted last-ack" },
          `${t.lastAck}: ${acked.name}, ${this.when(new Date(acked.acknowledged_at))} ${acked.acknowledged_by ? `${t.by} ${acked.acknowledged_by}` : ""}${acked.acknowledged_note ? ` — “${acked.acknowledged_note}”` : ""}`,
        ),
      );
  }

  // -- video wall ----------------------------------------------------------------------------------------
  wall() {
    const t = this.t;
    const cameras = this.devices("camera");
    if (!cameras.length) return h("p", { class: "empty" }, t.noCameras);
    const pages = Math.max(1, Math.ceil(cameras.length / this.layout));
    this.page = Math.min(this.page, pages - 1);
    const shown = cameras.slice(this.page * this.layout, (this.page + 1) * this.layout);
    const columns = Math.sqrt(this.layout);
    const toolbar = h(
      "div",
      { class: "toolbar" },
      h("span", {}, t.layout, ": "),
      LAYOUTS.map((n) =>
        h(
          "button",
          {
            class: n === this.layout ? "active" : "",
            onclick: () => {
              this.layout = n;
              this.page = 0;
              localStorage.setItem("anninh-console-layout", String(n));
              this.renderMain();
            },
          },
          String(n),
        ),
      ),
      pages > 1
        ? [
            h("button", { onclick: () => this.turnPage(-1), title: t.page }, "◀"),
            h("span", { class: "page" }, `${t.page} ${this.page + 1}/${pages}`),
            h("button", { onclick: () => this.turnPage(1), title: t.page }, "▶"),
            h(
              "label",
              {},
              h("input", {
                type: "checkbox",
                checked: this.cycling,
                onchange: (ev) => {
                  this.cycling = ev.target.checked;
                  this.renderMain();
                },
              }),
              ` ${t.cycle} (${CYCLE_SECONDS} s)`,
            ),
          ]
        : null,
    );
    const grid = h(
      "div",
      { class: "grid", style: `grid-template-columns: repeat(${columns}, minmax(0, 1fr));` },
      shown.map((camera) => this.tile(camera, true)),
    );
    const parts = [toolbar, grid];
    if (this.enlarged) {
      const camera = this.device(this.enlarged);
      if (camera) {
        parts.push(
          h(
            "div",
            { class: "enlarged", onclick: (ev) => ev.target === ev.currentTarget && this.enlarge(null) },
            h(
              "div",
              { class: "enlarged-box" },
              this.tile(camera, false),
              h(
                "div",
                { class: "row" },
                h(
                  "button",
                  {
                    onclick: (ev) =>
                      ev.target.closest(".enlarged-box").querySelector(".tile").requestFullscreen?.(),
                  },
                  t.fullscreen,
                ),
                h("button", { onclick: () => this.enlarge(null) }, t.close),
              ),
            ),
          ),
        );
      }
    }
    return h("div", { class: "wall" }, parts);
  }

  turnPage(step) {
    const pages = Math.max(1, Math.ceil(this.devices("camera").length / this.layout));
    this.page = (this.page + step + pages) % pages;
    this.renderMain();
  }

  enlarge(id) {
    this.enlarged = id;
    this.renderMain();
  }

  tile(camera, small) {
    const video = h("video", {
      muted: true,
      autoplay: true,
      playsInline: true,
      "data-camera": camera.id,
      "data-small": String(small),
    });
    video.muted = true;
    const el = h(
      "div",
      {
        class: "tile",
        "data-camera": camera.id,
        title: small ? this.t.enlarge : "",
        onclick: small ? () => this.enlarge(camera.id) : null,
      },
      video,
      h("div", { class: "label" }, h("b", {}, camera.name), h("span", {}, camera.address)),
      h("div", { class: "badge" }),
      h("div", { class: "notice" }),
    );
    this.decorate(el, camera);
    this.observer.observe(video);
    return el;
  }

  decorate(el, camera) {
    const t = this.t;
    el.classList.toggle("motion", Boolean(camera.motion));
    el.classList.toggle("offline", camera.state === "offline");
    el.classList.toggle("reconnecting", camera.state === "reconnecting");
    el.querySelector(".badge").textContent = camera.motion ? t.motion : "";
    const notice = el.querySelector(".notice");
    if (camera.state === "offline" || camera.state === "reconnecting") {
      fill(
        notice,
        h("b", {}, camera.state === "offline" ? t.offline : t.reconnecting),
        h("span", {}, `${t.since} ${this.when(new Date(camera.since * 1000))}`),
        camera.donor_name ? h("span", {}, camera.donor_name) : null,
        camera.donor_phone ? h("a", { href: `tel:${camera.donor_phone}` }, camera.donor_phone) : null,
      );
    } else fill(notice);
  }

  updateTiles(camera) {
    for (const el of this.shadowRoot.querySelectorAll(`.tile[data-camera="${camera.id}"]`))
      this.decorate(el, camera);
  }

  tileError(video, error) {
    const tile = video.closest(".tile");
    if (!tile) return;
    tile.classList.toggle("no-video", Boolean(error));
    tile.dataset.error = error ? this.t.errors[error] || `${this.t.noVideo} (${error})` : "";
  }

  // Streams follow the <video> elements that can be seen: another page, tab or a hidden window
  // has none, so its sessions end.
  syncStreams() {
    const wanted = new Map();
    if (!document.hidden) {
      for (const video of this.shadowRoot.querySelectorAll("video[data-camera]")) {
        if (!video.isConnected || this.visible.get(video) === false) continue;
        const key = `${video.dataset.camera}:${video.dataset.small}`;
        if (!wanted.has(key)) wanted.set(key, []);
        wanted.get(key).push(video);
      }
    }
    for (const [key, stream] of this.streams) {
      if (!wanted.has(key)) {
        stream.close();
        this.streams.delete(key);
      }
    }
    for (const [key, videos] of wanted) {
      let stream = this.streams.get(key);
      if (!stream) {
        const [camera, small] = key.split(":");
        stream = new LiveStream(this, camera, small === "true");
        this.streams.set(key, stream);
      }
      stream.videos = new Set(videos);
      for (const video of videos) stream.show(video);
    }
    this.dataset.streams = String(this.streams.size);
  }

  // -- alarms ------------------------------------------------------------------------------------------------
  renderAlarm() {
    const area = this.shadowRoot.querySelector(".alarm-area");
    if (!area) return;
    const t = this.t;
    const alarms = this.activeAlarms();
    this.syncSound();
    if (!alarms.length) {
      if (area.childElementCount) {
        fill(area);
        this.syncStreams();
      }
      this.alarmCollapsed = false;
      return;
    }
    let current = alarms.find((a) => a.id === this.selectedAlarm) || alarms[0];
    this.selectedAlarm = current.id;
    const existing = area.querySelector(".alarm");
    if (
      existing &&
      existing.dataset.bell === current.id &&
      existing.dataset.pressed === current.pressed_at &&
      existing.dataset.count === String(alarms.length) &&
      existing.dataset.collapsed === String(this.alarmCollapsed)
    )
      return;
    const pressed = new Date(current.pressed_at);
    const banner = h(
      "div",
      { class: `banner priority-${current.priority}` },
      h(
        "div",
        { class: "headline" },
        h("span", { class: "blink" }, "⚠ ", t.alarm),
        h("b", { class: "bell-name" }, current.name),
        h("span", {}, current.address),
        h("span", { class: "pill" }, t.priority[current.priority] || current.priority),
        h(
          "span",
          {},
          `${t.pressTypes[current.press_type] || current.press_type || ""} · ${t.pressedAt} ${this.time(pressed)}`,
        ),
        h("span", { class: "alarm-ago", "data-at": current.pressed_at }, this.ago(pressed)),
      ),
      h(
        "div",
        { class: "actions" },
        h("input", { class: "note", placeholder: t.note, maxLength: 500 }),
        h(
          "button",
          {
            class: "primary acknowledge",
            onclick: (ev) =>
              this.acknowledge(current.id, ev.target.closest(".banner").querySelector(".note").value),
          },
          t.acknowledge,
        ),
        h(
          "button",
          {
            class: "collapse",
            onclick: () => {
              this.alarmCollapsed = !this.alarmCollapsed;
              this.renderAlarm();
              this.syncStreams();
            },
          },
          this.alarmCollapsed ? t.showAlarm : t.showWall,
        ),
      ),
    );
    const linked = (current.linked_cameras || []).map((id) => this.device(id)).filter(Boolean);
    const body = this.alarmCollapsed
      ? null
      : h(
          "div",
          { class: "alarm-body" },
          h(
            "div",
            { class: "alarm-cameras" },
            h("h3", {}, t.linkedCameras),
            linked.length
              ? h(
                  "div",
                  {
                    class: "grid",
                    style: `grid-template-columns: repeat(${linked.length > 1 ? 2 : 1}, minmax(0, 1fr));`,
                  },
                  linked.map((camera) => this.tile(camera, linked.length > 2)),
                )
              : h("p", { class: "muted" }, t.noLinked),
          ),
          h(
            "div",
            { class: "alarm-side" },
            h("h3", {}, t.map),
            this.map(current),
            alarms.length > 1
              ? [
                  h("h3", {}, `${t.moreAlarms} (${alarms.length - 1})`),
                  h(
                    "ul",
                    { class: "queue" },
                    alarms
                      .filter((a) => a.id !== current.id)
                      .map((a) =>
                        h(
                          "li",
                          {},
                          h(
                            "button",
                            {
                              onclick: () => {
                                this.selectedAlarm = a.id;
                                this.renderAlarm();
                                this.syncStreams();
                              },
                            },
                            `${a.name} · ${t.priority[a.priority] || a.priority} · ${this.time(new Date(a.pressed_at))}`,
                          ),
                        ),
                      ),
                  ),
                ]
              : null,
          ),
        );
    fill(
      area,
      h(
        "div",
        {
          class: `alarm${this.alarmCollapsed ? " collapsed" : ""}`,
          "data-bell": current.id,
          "data-pressed": current.pressed_at,
          "data-count": String(alarms.length),
          "data-collapsed": String(this.alarmCollapsed),
        },
        banner,
        body,
      ),
    );
    this.syncStreams();
  }

  async acknowledge(bell, note) {
    try {
      await this._hass.callWS({ type: "anninh/alarm/acknowledge", bell, note: note || "" });
    } catch (err) {
      alert(err.message || String(err));
    }
  }

  // The devices drawn at their coordinates (no map tiles: the station may be offline).
  map(focus) {
    const placed = [...this.devices("camera"), ...this.devices("bell")].filter(
      (d) => d.latitude != null && d.longitude != null,
    );
    if (focus.latitude == null || focus.longitude == null)
      return h("p", { class: "muted map-none" }, this.t.noPosition);
    const lats = placed.map((d) => d.latitude);
    const lons = placed.map((d) => d.longitude);
    const pad = 0.002;
    const [minLat, maxLat] = [Math.min(...lats) - pad, Math.max(...lats) + pad];
    const [minLon, maxLon] = [Math.min(...lons) - pad, Math.max(...lons) + pad];
    const x = (lon) => 10 + ((lon - minLon) / (maxLon - minLon)) * 280;
    const y = (lat) => 10 + ((maxLat - lat) / (maxLat - minLat)) * 180;
    const ns = "http://www.w3.org/2000/svg";
    const svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", "0 0 300 200");
    svg.setAttribute("class", "map");
    const add = (tag, attrs, text) => {
      const el = document.createElementNS(ns, tag);
      for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
      if (text) el.textContent = text;
      svg.append(el);
      return el;
    };
    add("rect", { x: 0, y: 0, width: 300, height: 200, class: "map-bg" });
    for (const d of placed) {
      if (d.id === focus.id) continue;
      if (d.kind === "camera")
        add("rect", {
          x: x(d.longitude) - 4,
          y: y(d.latitude) - 4,
          width: 8,
          height: 8,
          class: "map-camera",
        }).append(Object.assign(document.createElementNS(ns, "title"), { textContent: d.name }));
      else add("circle", { cx: x(d.longitude), cy: y(d.latitude), r: 4, class: "map-bell" });
    }
    add("circle", { cx: x(focus.longitude), cy: y(focus.latitude), r: 14, class: "map-focus-ring" });
    add("circle", { cx: x(focus.longitude), cy: y(focus.latitude), r: 6, class: "map-focus" });
    add(
      "text",
      { x: Math.min(200, x(focus.longitude) + 10), y: y(focus.latitude) - 10, class: "map-label" },
      focus.name,
    );
    return h(
      "div",
      { class: "map-box" },
      svg,
      h("div", { class: "muted" }, `${focus.latitude.toFixed(5)}, ${focus.longitude.toFixed(5)}`),
    );
  }

  // -- playback and export -----------------------------------------------------------------------------------
  playbackView() {
    const t = this.t;
    const cameras = this.devices("camera");
    if (!cameras.length) return h("p", { class: "empty" }, t.noCameras);
    const state = this.playback;
    if (!state.camera || !cameras.some((c) => c.id === state.camera)) state.camera = cameras[0].id;
    state.day = state.day || this.today();
    const view = h(
      "div",
      { class: "playback" },
      h(
        "div",
        { class: "toolbar" },
        h(
          "label",
          {},
          t.camera,
          " ",
          h(
            "select",
            {
              class: "pb-camera",
              onchange: (ev) => {
                state.camera = ev.target.value;
                state.range = {};
                state.center = null;
                this.loadTimeline();
              },
            },
            cameras.map((c) => h("option", { value: c.id, selected: c.id === state.camera }, c.name)),
          ),
        ),
        h(
          "label",
          {},
          t.day,
          " ",
          h("input", {
            type: "date",
            class: "pb-day",
            value: state.day,
            onchange: (ev) => {
              state.day = ev.target.value;
              state.range = {};
              state.center = null;
              this.loadTimeline();
            },
          }),
        ),
        h(
          "span",
          { class: "pb-speed" },
          t.speed,
          ": ",
          [1, 4, 16].map((rate) =>
            h(
              "button",
              {
                "data-rate": rate,
                class: rate === (state.rate || 1) ? "active" : "",
                onclick: () => this.setRate(rate),
              },
              `${rate}×`,
            ),
          ),
        ),
        h(
          "span",
          { class: "pb-zoom" },
          t.zoom,
          ": ",
          ZOOMS.map((zoom) =>
            h(
              "button",
              {
                "data-zoom": zoom,
                class: zoom === (state.zoom || ZOOMS[0]) ? "active" : "",
                onclick: () => this.zoomTo(zoom),
              },
              zoom >= 3600 ? `${zoom / 3600} h` : `${zoom / 60} min`,
            ),
          ),
          h("button", { class: "pb-pan-back", onclick: () => this.pan(-1) }, "◀"),
          h("button", { class: "pb-pan-on", onclick: () => this.pan(1) }, "▶"),
        ),
        h("button", { class: "pb-prev", onclick: () => this.jumpEvent(-1) }, "⏮ ", t.prevEvent),
        h("button", { class: "pb-next", onclick: () => this.jumpEvent(1) }, t.nextEvent, " ⏭"),
      ),
      h(
        "div",
        { class: "timeline", title: t.clickToPlay },
        h("div", { class: "tl-bar" }),
        h("div", { class: "tl-hours" }),
      ),
      h(
        "div",
        { class: "legend muted" },
        h("i", { class: "lg rec" }),
        t.recorded,
        " ",
        h("i", { class: "lg motion" }),
        t.motion,
        " ",
        h("i", { class: "lg mark" }),
        t.marked,
        " ",
        h("i", { class: "lg gap" }),
        t.gap,
        h("span", { class: "pb-at" }),
      ),
      h("video", { class: "pb-video", controls: true, muted: true, playsInline: true }),
      h(
        "div",
        { class: "export" },
        h(
          "div",
          { class: "row" },
          h("button", { class: "pb-start", onclick: () => this.setRangeEdge("start") }, "⇤ ", t.rangeStart),
          h("button", { class: "pb-end", onclick: () => this.setRangeEdge("end") }, t.rangeEnd, " ⇥"),
          h("span", { class: "pb-range" }),
        ),
        h(
          "div",
          { class: "row" },
          h("input", { class: "pb-case", placeholder: t.caseNumber, maxLength: 64 }),
          h("input", { class: "pb-reason", placeholder: t.reason, maxLength: 500 }),
          h("button", { class: "primary pb-export", onclick: () => this.exportRange() }, t.exportEvidence),
        ),
        h("div", { class: "pb-result" }),
      ),
    );
    const bar = view.querySelector(".tl-bar");
    let dragFrom = null;
    bar.addEventListener("pointerdown", (ev) => {
      dragFrom = ev.clientX;
      bar.setPointerCapture(ev.pointerId);
    });
    bar.addEventListener("pointerup", (ev) => {
      const from = dragFrom;
      dragFrom = null;
      if (from === null) return;
      const a = this.timeAt(bar, from),
        b = this.timeAt(bar, ev.clientX);
      if (Math.abs(ev.clientX - from) > 6) {
        state.range = { start: Math.min(a, b), end: Math.max(a, b) };
        this.drawTimeline();
      } else this.play(b);
    });
    const video = view.querySelector(".pb-video");
    video.addEventListener("timeupdate", () => this.drawPlayhead());
    video.addEventListener("ended", () => {
      const chunk = state.chunk;
      if (chunk && chunk.end < Date.now() / 1000 - 5) this.play(chunk.end);
    });
    video.addEventListener("loadedmetadata", () => {
      video.playbackRate = state.rate || 1;
    });
    setTimeout(() => this.loadTimeline(), 0);
    return view;
  }

  get pb() {
    return this.shadowRoot.querySelector(".playback");
  }

  timeAt(bar, clientX) {
    const box = bar.getBoundingClientRect();
    const [lo, hi] = this.window();
    const fraction = Math.min(1, Math.max(0, (clientX - box.left) / box.width));
    return lo + fraction * (hi - lo);
  }

  // The part of the day the timeline shows: all of it, or `zoom` seconds around what is played
  // (or the newest recording), panned with the arrows.
  window() {
    const state = this.playback;
    const timeline = state.timeline;
    const zoom = state.zoom || ZOOMS[0];
    if (!timeline || zoom >= timeline.end - timeline.start)
      return timeline ? [timeline.start, timeline.end] : [0, 1];
    if (state.center == null) {
      const last = timeline.segments.length
        ? timeline.segments[timeline.segments.length - 1].end
        : timeline.start + zoom / 2;
      state.center = this.position() ?? Math.min(last, Date.now() / 1000) - zoom / 4;
    }
    const lo = Math.min(Math.max(timeline.start, state.center - zoom / 2), timeline.end - zoom);
    return [lo, lo + zoom];
  }

  zoomTo(zoom) {
    this.playback.zoom = zoom;
    this.playback.center = this.position() ?? null;
    for (const button of this.pb?.querySelectorAll(".pb-zoom button[data-zoom]") || [])
      button.classList.toggle("active", Number(button.dataset.zoom) === zoom);
    this.drawTimeline();
  }

  pan(direction) {
    const [lo, hi] = this.window();
    this.playback.center = (lo + hi) / 2 + (direction * (hi - lo)) / 2;
    this.drawTimeline();
  }

  async loadTimeline() {
    const state = this.playback;
    const camera = this.device(state.camera);
    if (!camera || !this.pb) return;
    const bar = this.pb.querySelector(".tl-bar");
    fill(bar, h("span", { class: "muted" }, this.t.loading));
    try {
      state.timeline = await this._hass.callApi(
        "GET",
        `anninh/timeline/${camera.entry_id}/${encodeURIComponent(camera.folder)}?day=${state.day}`,
      );
    } catch (err) {
      state.timeline = null;
      fill(bar, h("span", { class: "muted" }, String(err.body?.message || err.error || err.message || err)));
      return;
    }
    this.drawTimeline();
  }

  events() {
    const timeline = this.playback.timeline;
    if (!timeline) return [];
    const marks = timeline.marks.map((m) => Date.parse(m.start) / 1000);
    return [...timeline.motion.map((m) => m[0]), ...marks].sort((a, b) => a - b);
  }

  drawTimeline() {
    const state = this.playback;
    const timeline = state.timeline;
    if (!timeline || !this.pb) return;
    const [lo, hi] = this.window();
    const span = hi - lo;
    const pct = (t) => `${(((t - lo) / span) * 100).toFixed(3)}%`;
    const block = (cls, a, b, title) =>
      b <= lo || a >= hi
        ? null
        : h("div", {
            class: cls,
            title,
            style: `left:${pct(Math.max(a, lo))};width:${(((Math.min(b, hi) - Math.max(a, lo)) / span) * 100).toFixed(3)}%`,
          });
    const bar = this.pb.querySelector(".tl-bar");
    fill(
      bar,
      ...timeline.segments.map((s) => block("tl-rec", s.start, s.end)),
      ...timeline.motion.map((m) =>
        block("tl-motion", m[0], m[1], `${this.t.motion} ${this.time(new Date(m[0] * 1000))}`),
      ),
      ...timeline.marks.map((m) =>
        block(
          "tl-mark",
          Date.parse(m.start) / 1000,
          Date.parse(m.end) / 1000,
          `${m.reason || m.trigger} ${m.case_number || ""}`,
        ),
      ),
      state.range.start != null && state.range.end != null
        ? block("tl-range", state.range.start, state.range.end)
        : null,
      h("div", { class: "tl-head" }),
      timeline.segments.length || timeline.marks.length
        ? null
        : h("span", { class: "muted tl-empty" }, this.t.noRecording),
    );
    const hours = this.pb.querySelector(".tl-hours");
    fill(
      hours,
      ...Array.from({ length: 9 }, (_, i) =>
        h(
          "span",
          { style: `left:${(i / 8) * 100}%` },
          this.fmt(new Date((lo + (span * i) / 8) * 1000), { hour: "2-digit", minute: "2-digit" }),
        ),
      ),
    );
    this.drawPlayhead();
    this.drawRange();
  }

  drawRange() {
    const box = this.pb?.querySelector(".pb-range");
    if (!box) return;
    const { start, end } = this.playback.range;
    box.textContent =
      start != null && end != null
        ? `${this.t.range}: ${this.when(new Date(start * 1000))} → ${this.when(new Date(end * 1000))} (${Math.round((end - start) / 60)} min)`
        : this.t.noRange;
  }

  position() {
    const chunk = this.playback.chunk;
    const video = this.pb?.querySelector(".pb-video");
    return chunk && video ? chunk.start + video.currentTime : null;
  }

  drawPlayhead() {
    const head = this.pb?.querySelector(".tl-head");
    const timeline = this.playback.timeline;
    const at = this.position();
    if (!head || !timeline) return;
    const [lo, hi] = this.window();
    if (
      at !== null &&
      (at < lo || at > hi) &&
      (this.playback.zoom || ZOOMS[0]) < timeline.end - timeline.start
    ) {
      this.playback.center = at + (hi - lo) / 4; // follow what plays
      return this.drawTimeline();
    }
    head.style.display = at === null ? "none" : "block";
    if (at !== null) {
      head.style.left = `${((at - lo) / (hi - lo)) * 100}%`;
      this.pb.querySelector(".pb-at").textContent = ` ▶ ${this.when(new Date(at * 1000))}`;
    }
  }

  async play(at) {
    const state = this.playback;
    const camera = this.device(state.camera);
    const video = this.pb?.querySelector(".pb-video");
    if (!camera || !video) return;
    const now = Date.now() / 1000;
    // From the recording at or after `at` (a click in a gap plays what follows it).
    const segment = (state.timeline?.segments || []).find((s) => s.end > at);
    if (segment && segment.start > at) at = segment.start;
    const start = Math.floor(Math.min(at, now - 2));
    const end = Math.floor(Math.min(start + CHUNK_SECONDS, now));
    if (end <= start) return;
    const { path } = await this._hass.callWS({
      type: "auth/sign_path",
      path: `/api/anninh/playback/${camera.entry_id}/${encodeURIComponent(camera.folder)}/${start}-${end}.mp4`,
      expires: 3600,
    });
    state.chunk = { start, end };
    video.src = path;
    video.playbackRate = state.rate || 1;
    video.play().catch(() => {});
    this.drawPlayhead();
  }

  setRate(rate) {
    this.playback.rate = rate;
    const video = this.pb?.querySelector(".pb-video");
    if (video) video.playbackRate = rate;
    for (const button of this.pb?.querySelectorAll(".pb-speed button") || [])
      button.classList.toggle("active", Number(button.dataset.rate) === rate);
  }

  jumpEvent(direction) {
    const at = this.position() ?? (direction > 0 ? this.playback.timeline?.start : Date.now() / 1000);
    const events = this.events();
    const target =
      direction > 0 ? events.find((e) => e > at + 1) : [...events].reverse().find((e) => e < at - 3);
    if (target !== undefined) this.play(Math.max(this.playback.timeline.start, target - 2));
  }

  setRangeEdge(edge) {
    const at = this.position();
    if (at === null) return;
    const range = this.playback.range;
    range[edge] = at;
    if (range.start != null && range.end != null && range.end < range.start)
      [range.start, range.end] = [range.end, range.start];
    this.drawTimeline();
  }

  async exportRange() {
    const t = this.t;
    const pb = this.pb;
    const { start, end } = this.playback.range;
    const result = pb.querySelector(".pb-result");
    const caseNumber = pb.querySelector(".pb-case").value.trim();
    if (start == null || end == null) return fill(result, h("span", { class: "warn" }, t.noRange));
    if (!caseNumber) return fill(result, h("span", { class: "warn" }, t.needCase));
    const camera = this.device(this.playback.camera);
    const button = pb.querySelector(".pb-export");
    button.disabled = true;
    fill(result, h("span", {}, t.exporting));
    try {
      const answer = await this._hass.callWS({
        type: "call_service",
        domain: "anninh",
        service: "export_evidence",
        target: { entity_id: camera.entity_id },
        service_data: {
          start: new Date(start * 1000).toISOString(),
          end: new Date(end * 1000).toISOString(),
          case_number: caseNumber,
          reason: pb.querySelector(".pb-reason").value.trim(),
        },
        return_response: true,
      });
      const made = answer.response.exports[0];
      const { path } = await this._hass.callWS({ type: "auth/sign_path", path: made.download, expires: 300 });
      const name = made.download.split("/").pop();
      const link = h("a", { href: path, download: name, class: "download" }, name);
      fill(
        result,
        h("span", { class: "ok" }, `${t.exported}: `),
        link,
        h("span", { class: "muted" }, ` · SHA-256 ${made.sha256.slice(0, 16)}…`),
      );
      link.click();
    } catch (err) {
      fill(result, h("span", { class: "bad" }, err.message || String(err)));
    } finally {
      button.disabled = false;
    }
  }

  // -- announcements ---------------------------------------------------------------------------------------------
  announceView() {
    const t = this.t;
    const speakers = this.devices("loudspeaker");
    if (!speakers.length) return h("p", { class: "empty" }, t.noLoudspeakers);
    const view = h(
      "div",
      { class: "announce" },
      h(
        "label",
        {},
        t.preset,
        " ",
        h(
          "select",
          { class: "an-preset", onchange: (ev) => this.usePreset(ev.target.value) },
          h("option", { value: "" }, t.choosePreset),
        ),
      ),
      h(
        "label",
        { class: "block" },
        t.message,
        h("textarea", { class: "an-message", rows: 4, maxLength: 1000 }),
      ),
      h(
        "div",
        { class: "row" },
        h(
          "label",
          {},
          t.chime,
          " ",
          h(
            "select",
            { class: "an-chime" },
            Object.entries(t.chimes).map(([value, label]) =>
              h("option", { value, selected: value === "bell" }, label),
            ),
          ),
        ),
        h(
          "label",
          {},
          t.language,
          " ",
          h(
            "select",
            { class: "an-language" },
            Object.entries(t.languages).map(([value, label]) =>
              h("option", { value, selected: value === "vi" }, label),
            ),
          ),
        ),
      ),
      h(
        "fieldset",
        {},
        h("legend", {}, t.loudspeakers),
        h(
          "label",
          {},
          h("input", {
            type: "checkbox",
            class: "an-all",
            checked: true,
            onchange: (ev) => {
              for (const box of view.querySelectorAll(".an-speaker")) box.checked = ev.target.checked;
            },
          }),
          ` ${t.everyone}`,
        ),
        speakers.map((s) =>
          h(
            "label",
            {},
            h("input", { type: "checkbox", class: "an-speaker", value: s.entity_id || "", checked: true }),
            ` ${s.name}`,
          ),
        ),
      ),
      h(
        "div",
        { class: "row" },
        h("button", { class: "primary an-send", onclick: () => this.announce() }, t.send),
        h("button", { class: "an-save", onclick: () => this.savePreset() }, t.savePreset),
      ),
      h("div", { class: "an-result" }),
    );
    this.loadPresets(view);
    return view;
  }

  allPresets() {
    return [...(this.presets || []), ...BUILT_IN_PRESETS[this.lang || "vi"]];
  }

  async loadPresets(view) {
    if (this.presets === null) {
      try {
        this.presets = (await this._hass.callWS({ type: "anninh/console/presets" })).presets || [];
      } catch (_err) {
        this.presets = [];
      }
    }
    const select = view.querySelector(".an-preset");
    fill(
      select,
      h("option", { value: "" }, this.t.choosePreset),
      ...this.allPresets().map((p, i) => h("option", { value: String(i) }, p.title)),
    );
  }

  usePreset(index) {
    const preset = this.allPresets()[Number(index)];
    if (!preset) return;
    const view = this.shadowRoot.querySelector(".announce");
    view.querySelector(".an-message").value = preset.message;
    view.querySelector(".an-chime").value = preset.chime || "bell";
    view.querySelector(".an-language").value = preset.language || "vi";
  }

  async savePreset() {
    const view = this.shadowRoot.querySelector(".announce");
    const message = view.querySelector(".an-message").value.trim();
    if (!message) return;
    const title = prompt(this.t.presetTitle, message.slice(0, 40));
    if (!title) return;
    this.presets = [
      ...(this.presets || []),
      {
        title,
        message,
        chime: view.querySelector(".an-chime").value,
        language: view.querySelector(".an-language").value,
      },
    ];
    await this._hass.callWS({ type: "anninh/console/presets/save", presets: this.presets });
    this.loadPresets(view);
  }

  async announce() {
    const t = this.t;
    const view = this.shadowRoot.querySelector(".announce");
    const message = view.querySelector(".an-message").value.trim();
    const result = view.querySelector(".an-result");
    const targets = [...view.querySelectorAll(".an-speaker")]
      .filter((b) => b.checked && b.value)
      .map((b) => b.value);
    if (!message || !targets.length) return;
    const button = view.querySelector(".an-send");
    button.disabled = true;
    fill(result, h("span", {}, t.sending));
    try {
      const answer = await this._hass.callWS({
        type: "call_service",
        domain: "anninh",
        service: "announce",
        target: { entity_id: targets },
        service_data: {
          message,
          chime: view.querySelector(".an-chime").value,
          language: view.querySelector(".an-language").value,
          wait: true,
        },
        return_response: true,
      });
      const speakers = Object.values(answer.response.loudspeakers || {});
      fill(
        result,
        h("span", { class: "ok an-played" }, `${t.played} ${this.time(new Date())}: `),
        speakers.map((s) =>
          h(
            "span",
            { class: s.status === "failed" ? "bad" : "" },
            `${s.name} — ${t.statuses[s.status] || s.status}${s.error ? ` (${s.error})` : ""}. `,
          ),
        ),
      );
    } catch (err) {
      fill(result, h("span", { class: "bad" }, err.message || String(err)));
    } finally {
      button.disabled = false;
    }
  }
}

const STYLE = `
:host { display: block; min-height: 100vh; background: var(--primary-background-color, #111); color: var(--primary-text-color, #eee);
  font-family: var(--paper-font-body1_-_font-family, Roboto, "Noto Sans", sans-serif); font-size: 14px; }
header { display: flex; align-items: center; gap: 12px; padding: 6px 12px; background: var(--app-header-background-color, #1c1c1c);
  color: var(--app-header-text-color, #fff); flex-wrap: wrap; }
header h1 { font-size: 18px; margin: 0; font-weight: 500; flex: 1 1 auto; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
header .menu { display: none; }
@media (max-width: 870px) { header .menu { display: inline-block; } }
nav { display: flex; gap: 4px; }
button { font: inherit; padding: 6px 10px; border-radius: 6px; border: 1px solid var(--divider-color, #444); cursor: pointer;
  background: var(--card-background-color, #222); color: var(--primary-text-color, #eee); }
button.active, button.tab.active { background: var(--primary-color, #03a9f4); color: #fff; border-color: transparent; }
button.primary { background: var(--primary-color, #03a9f4); color: #fff; border-color: transparent; font-weight: 600; }
button:disabled { opacity: .5; cursor: progress; }
input, select, textarea { font: inherit; padding: 6px; border-radius: 6px; border: 1px solid var(--divider-color, #444);
  background: var(--card-background-color, #222); color: var(--primary-text-color, #eee); }
.clock { font-variant-numeric: tabular-nums; font-size: 16px; }
.sound { display: flex; gap: 8px; align-items: center; }
.ok { color: var(--success-color, #43a047); }
.warn { color: var(--warning-color, #ffa000); }
.bad { color: var(--error-color, #e53935); font-weight: 600; }
.muted { color: var(--secondary-text-color, #999); }
.status { display: flex; flex-wrap: wrap; gap: 6px 16px; padding: 4px 12px; background: var(--secondary-background-color, #181818);
  border-bottom: 1px solid var(--divider-color, #333); font-size: 13px; }
.status .last-ack { margin-left: auto; }
main { padding: 8px 12px; }
.empty { padding: 40px; text-align: center; font-size: 16px; }
.toolbar, .row { display: flex; flex-wrap: wrap; align-items: center; gap: 6px 8px; margin: 4px 0 8px; }
.grid { display: grid; gap: 6px; }
.tile { position: relative; background: #000; aspect-ratio: 16 / 9; border-radius: 6px; overflow: hidden; cursor: pointer;
  border: 3px solid transparent; }
.tile video { width: 100%; height: 100%; object-fit: contain; display: block; background: #000; }
.tile .label { position: absolute; left: 0; right: 0; bottom: 0; padding: 4px 8px; background: linear-gradient(transparent, rgba(0,0,0,.8));
  color: #fff; display: flex; gap: 8px; align-items: baseline; font-size: 13px; }
.tile .label span { opacity: .8; font-size: 12px; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.tile .badge:empty { display: none; }
.tile .badge { position: absolute; top: 6px; left: 6px; background: #ffb300; color: #000; font-weight: 700; padding: 2px 6px; border-radius: 4px; font-size: 12px; }
.tile.motion { border-color: #ffb300; }
.tile.offline { border-color: #e53935; background: #4a0d0d; }
.tile.reconnecting { border-color: #fb8c00; }
.tile .notice:empty { display: none; }
.tile .notice { position: absolute; inset: 0; display: flex; flex-direction: column; align-items: center; justify-content: center; gap: 4px;
  color: #fff; background: rgba(120, 0, 0, .75); text-align: center; padding: 8px; }
.tile.reconnecting .notice { background: rgba(90, 50, 0, .7); }
.tile .notice a { color: #fff; font-size: 16px; font-weight: 700; }
.tile.no-video::after { content: attr(data-error); position: absolute; top: 40%; left: 0; right: 0; text-align: center; color: #ccc; }
.tile.offline.no-video::after,
.tile.reconnecting.no-video::after {
  display: none;
}
@media (max-width: 600px) {
  .wall .grid, .alarm-cameras .grid { grid-template-columns: 1fr !important; }
  header h1 { flex-basis: 60%; }
  .clock { display: none; }
}
.enlarged { position: fixed; inset: 0; background: rgba(0,0,0,.85); z-index: 10; display: flex; align-items: center; justify-content: center; }
.enlarged-box { width: min(96vw, calc(86vh * 16 / 9)); }
.enlarged .tile { cursor: default; }
.alarm { margin: 0; border-bottom: 4px solid #b71c1c; background: #2a0808; }
.banner { display: flex; flex-wrap: wrap; gap: 8px 16px; align-items: center; justify-content: space-between; padding: 10px 14px;
  background: #c62828; color: #fff; }
.banner.priority-critical { background: #8e0000; }
.banner .headline { display: flex; flex-wrap: wrap; gap: 6px 14px; align-items: baseline; font-size: 16px; }
.banner .bell-name { font-size: 22px; }
.banner .pill { background: #fff; color: #b71c1c; border-radius: 10px; padding: 1px 8px; font-weight: 700; font-size: 13px; }
.banner .actions { display: flex; gap: 6px; align-items: center; flex-wrap: wrap; }
.banner .note { min-width: 220px; }
.banner button.primary { background: #fff; color: #b71c1c; font-size: 16px; }
.blink { font-weight: 800; animation: blink 1s steps(2, start) infinite; }
@keyframes blink { to { visibility: hidden; } }
.alarm-body { display: grid; grid-template-columns: minmax(0, 3fr) minmax(220px, 1fr); gap: 12px; padding: 8px 12px; }
@media (max-width: 870px) { .alarm-body { grid-template-columns: 1fr; } }
.alarm h3 { margin: 4px 0 6px; font-size: 14px; font-weight: 600; color: #ffcdd2; }
.queue { list-style: none; padding: 0; margin: 0; display: flex; flex-direction: column; gap: 4px; }
.map { width: 100%; border-radius: 6px; }
.map-bg { fill: #1b2a1b; }
.map-camera { fill: #90caf9; }
.map-bell { fill: #ffcc80; }
.map-focus { fill: #ff1744; }
.map-focus-ring { fill: none; stroke: #ff1744; stroke-width: 3; animation: pulse 1.2s ease-out infinite; transform-box: fill-box; transform-origin: center; }
.map-label { fill: #fff; font-size: 12px; }
@keyframes pulse { from { opacity: 1; transform: scale(.6); } to { opacity: 0; transform: scale(1.6); } }
.timeline { position: relative; margin: 8px 0 24px; user-select: none; }
.tl-bar { position: relative; height: 44px; background: #2b2b2b; border-radius: 4px; cursor: crosshair; overflow: hidden; }
.tl-bar > div { position: absolute; top: 0; bottom: 0; }
.tl-rec, .lg.rec { background: #455a64; }
.tl-motion, .lg.motion { background: #ff9800; top: 14px !important; }
.tl-mark, .lg.mark { background: #42a5f5; top: 30px !important; }
.tl-range { background: rgba(255,255,255,.25); outline: 2px solid #fff; }
.tl-head { width: 2px; background: #ff1744; display: none; }
.tl-empty { position: absolute; left: 12px; top: 12px; }
.tl-hours { position: relative; height: 16px; font-size: 11px; color: var(--secondary-text-color, #999); }
.tl-hours span { position: absolute; transform: translateX(-50%); top: 2px; }
.tl-hours span:first-child { transform: none; }
.tl-hours span:last-child { transform: translateX(-100%); }
.legend { display: flex; gap: 6px; align-items: center; flex-wrap: wrap; }
.lg { display: inline-block; width: 14px; height: 10px; border-radius: 2px; }
.lg.gap { background: #2b2b2b; outline: 1px solid #555; }
.pb-video { width: 100%; max-height: 52vh; background: #000; border-radius: 6px; margin: 6px 0; }
.export input { min-width: 200px; }
.announce { max-width: 760px; display: flex; flex-direction: column; gap: 10px; }
.announce .block { display: flex; flex-direction: column; gap: 4px; }
.announce fieldset { border: 1px solid var(--divider-color, #444); border-radius: 6px; display: flex; flex-wrap: wrap; gap: 8px 16px; }
a { color: var(--primary-color, #03a9f4); }
`;

customElements.define("anninh-console", AnninhConsole);

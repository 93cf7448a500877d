// The optimizer playground: analytic gradients of a few 2-D test functions for thousands of points, and the
// rendering of the function's surface, the points' trails and their current positions. Optimizing happens in
// between, in the library's fused kernel, which sees the points as one flat tensor of x, y pairs.

const ROSENBROCK: u32 = 0u;
const BEALE: u32 = 1u;
const SADDLE: u32 = 2u;

struct Scene {
  viewProjection: mat4x4<f32>,
  domainMin: vec2<f32>,
  domainMax: vec2<f32>,
  kind: u32,           // which test function
  logHeight: u32,      // log(1 + f) for the functions whose values span many decades
  heightScale: f32,    // maps the (log) value to world height in [0, 1]
  heightOffset: f32,
  pointCount: u32,
  trailLength: u32,    // frames kept per point
  head: u32,           // the newest trail frame
  filled: u32,         // frames written so far, at most trailLength
  color: vec4<f32>,
  pixelSize: vec2<f32>,   // one pixel in clip units, for the point sprites
  grid: u32,
  _pad: u32,
}

@group(0) @binding(0) var<uniform> scene: Scene;
@group(0) @binding(1) var<storage, read> positions: array<vec2<f32>>;
@group(0) @binding(2) var<storage, read_write> grads: array<vec2<f32>>;
@group(0) @binding(3) var<storage, read> trail: array<vec2<f32>>;

fn value(p: vec2<f32>) -> f32 {
  let x = p.x;
  let y = p.y;
  switch scene.kind {
    case ROSENBROCK: {
      return (1.0 - x) * (1.0 - x) + 100.0 * (y - x * x) * (y - x * x);
    }
    case BEALE: {
      let a = 1.5 - x + x * y;
      let b = 2.25 - x + x * y * y;
      let c = 2.625 - x + x * y * y * y;
      return a * a + b * b + c * c;
    }
    default: {
      return x * x - y * y;
    }
  }
}

fn gradient(p: vec2<f32>) -> vec2<f32> {
  let x = p.x;
  let y = p.y;
  switch scene.kind {
    case ROSENBROCK: {
      let r = y - x * x;
      return vec2<f32>(-2.0 * (1.0 - x) - 400.0 * x * r, 200.0 * r);
    }
    case BEALE: {
      let a = 1.5 - x + x * y;
      let b = 2.25 - x + x * y * y;
      let c = 2.625 - x + x * y * y * y;
      return 2.0 * vec2<f32>(
        a * (y - 1.0) + b * (y * y - 1.0) + c * (y * y * y - 1.0),
        a * x + b * 2.0 * x * y + c * 3.0 * x * y * y,
      );
    }
    default: {
      return vec2<f32>(2.0 * x, -2.0 * y);
    }
  }
}

@compute @workgroup_size(64)
fn gradients(@builtin(global_invocation_id) id: vec3<u32>) {
  if (id.x >= scene.pointCount) { return; }
  grads[id.x] = gradient(positions[id.x]);
}

// Domain point -> world: x and y span [-1, 1] (x right, y into the screen), height goes up.
fn toWorld(p: vec2<f32>) -> vec3<f32> {
  let uv = (p - scene.domainMin) / (scene.domainMax - scene.domainMin) * 2.0 - 1.0;
  var f = value(p);
  if (scene.logHeight != 0u) { f = log(1.0 + max(f, 0.0)); }
  return vec3<f32>(uv.x, f * scene.heightScale + scene.heightOffset, -uv.y);
}

fn inDomain(p: vec2<f32>) -> bool {
  return all(p >= scene.domainMin) && all(p <= scene.domainMax);
}

struct SurfaceOut {
  @builtin(position) position: vec4<f32>,
  @location(0) domain: vec2<f32>,
  @location(1) height: f32,
  @location(2) world: vec3<f32>,
}

@vertex
fn surfaceVertex(@builtin(vertex_index) index: u32) -> SurfaceOut {
  // Two triangles per grid cell, generated from the index alone: no vertex buffer.
  let cell = index / 6u;
  let corner = array<vec2<u32>, 6>(
    vec2<u32>(0u, 0u), vec2<u32>(1u, 0u), vec2<u32>(0u, 1u),
    vec2<u32>(0u, 1u), vec2<u32>(1u, 0u), vec2<u32>(1u, 1u),
  )[index % 6u];
  let ij = vec2<u32>(cell % scene.grid, cell / scene.grid) + corner;
  let t = vec2<f32>(ij) / f32(scene.grid);
  let p = mix(scene.domainMin, scene.domainMax, t);
  let world = toWorld(p);
  var out: SurfaceOut;
  out.position = scene.viewProjection * vec4<f32>(world, 1.0);
  out.domain = p;
  out.height = world.y;
  out.world = world;
  return out;
}

fn palette(t: f32) -> vec3<f32> {
  // Deep blue valleys to warm ridges.
  let c0 = vec3<f32>(0.05, 0.10, 0.30);
  let c1 = vec3<f32>(0.10, 0.45, 0.60);
  let c2 = vec3<f32>(0.85, 0.80, 0.45);
  let c3 = vec3<f32>(0.80, 0.35, 0.25);
  let s = clamp(t, 0.0, 1.0) * 3.0;
  if (s < 1.0) { return mix(c0, c1, s); }
  if (s < 2.0) { return mix(c1, c2, s - 1.0); }
  return mix(c2, c3, s - 2.0);
}

@fragment
fn surfaceFragment(in: SurfaceOut) -> @location(0) vec4<f32> {
  let normal = normalize(cross(dpdx(in.world), dpdy(in.world)));
  let light = normalize(vec3<f32>(0.4, 0.9, 0.3));
  let shade = 0.55 + 0.45 * abs(dot(normal, light));
  // Contour lines every 1/16 of the height range, one pixel wide whatever the zoom.
  let level = in.height * 16.0;
  let width = fwidth(level);
  let line = 1.0 - smoothstep(0.0, width * 1.2, abs(fract(level + 0.5) - 0.5));
  let base = palette(in.height) * shade;
  return vec4<f32>(mix(base, vec3<f32>(0.02, 0.03, 0.06), line * 0.45), 1.0);
}

struct LineOut {
  @builtin(position) position: vec4<f32>,
  @location(0) alpha: f32,
}

const LIFT: f32 = 0.012;   // draw above the surface so the trail is not hidden in its own valley

@vertex
fn trailVertex(@builtin(vertex_index) index: u32) -> LineOut {
  // Vertex pairs form segments; segment s of point k joins the frames `age` and `age + 1` behind the head.
  let segments = scene.trailLength - 1u;
  let segment = index / 2u;
  let point = segment / segments;
  let age = segment % segments + (index % 2u);
  var out: LineOut;
  out.alpha = 0.0;
  out.position = vec4<f32>(2.0, 2.0, 2.0, 1.0);   // outside the clip volume unless set below
  if (segment % segments + 1u >= scene.filled) { return out; }
  let frame = (scene.head + scene.trailLength - age) % scene.trailLength;
  let p = trail[frame * scene.pointCount + point];
  if (!inDomain(p)) { return out; }
  let world = toWorld(p) + vec3<f32>(0.0, LIFT, 0.0);
  out.position = scene.viewProjection * vec4<f32>(world, 1.0);
  out.alpha = 0.4 * (1.0 - f32(age) / f32(scene.trailLength));
  return out;
}

@fragment
fn trailFragment(in: LineOut) -> @location(0) vec4<f32> {
  return vec4<f32>(scene.color.rgb, in.alpha);
}

@vertex
fn pointVertex(@builtin(vertex_index) index: u32, @builtin(instance_index) point: u32) -> LineOut {
  let corner = array<vec2<f32>, 6>(
    vec2<f32>(-1.0, -1.0), vec2<f32>(1.0, -1.0), vec2<f32>(-1.0, 1.0),
    vec2<f32>(-1.0, 1.0), vec2<f32>(1.0, -1.0), vec2<f32>(1.0, 1.0),
  )[index];
  var out: LineOut;
  out.alpha = 1.0;
  out.position = vec4<f32>(2.0, 2.0, 2.0, 1.0);
  let p = positions[point];
  if (!inDomain(p)) { return out; }
  let clip = scene.viewProjection * vec4<f32>(toWorld(p) + vec3<f32>(0.0, LIFT, 0.0), 1.0);
  out.position = clip + vec4<f32>(corner * scene.pixelSize * 1.6 * clip.w, 0.0, 0.0);
  return out;
}

@fragment
fn pointFragment(in: LineOut) -> @location(0) vec4<f32> {
  return vec4<f32>(mix(scene.color.rgb, vec3<f32>(1.0), 0.55), 1.0);
}

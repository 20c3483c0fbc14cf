// yq_requant: y = clamp(rshift_round(v * M, S) + ZERO, 0, QMAX), the integer spec's
// requantizer (docs/quantization.md). The shift arrives split in two non-negative fields:
// LSH (left shift, S <= 0) and RSH (rounding right shift, S > 0); at most one is non-zero.
// Rounding is half up: (x + 2^(RSH-1)) >>> RSH. USE_MULT = 0 means M == 1 (power-of-two
// scales) and no multiplier is built. Widths are proven in Rust so nothing can overflow.
module yq_requant #(
    parameter IN_W = 24,
    parameter MULT_W = 1,
    parameter USE_MULT = 0,
    parameter LSH_W = 1,
    parameter RSH_W = 5,
    parameter SH_W = 40,
    parameter OUT_W = 8,
    parameter ZERO = 0,
    parameter QMAX = 255
) (
    input wire signed [IN_W-1:0] v,
    input wire [MULT_W-1:0] mult,
    input wire [LSH_W-1:0] lsh,
    input wire [RSH_W-1:0] rsh,
    output wire [OUT_W-1:0] y
);
    localparam signed [SH_W-1:0] ZERO_S = ZERO;
    localparam signed [SH_W-1:0] QMAX_S = QMAX;
    localparam signed [SH_W-1:0] ONE_S = 1;
    wire signed [SH_W-1:0] vx = {{(SH_W-IN_W){v[IN_W-1]}}, v};
    wire signed [SH_W-1:0] prod;
    generate
        if (USE_MULT != 0) begin : g_mult
            wire signed [SH_W-1:0] mx = {{(SH_W-MULT_W){1'b0}}, mult};
            assign prod = vx * mx;
        end else begin : g_nomult
            assign prod = vx;
            wire unused_mult = ^mult;
        end
    endgenerate
    wire signed [SH_W-1:0] left = prod <<< lsh;
    wire signed [SH_W-1:0] half = (rsh == {RSH_W{1'b0}}) ? {SH_W{1'b0}} : (ONE_S <<< (rsh - 1'b1));
    wire signed [SH_W-1:0] shifted = (left + half) >>> rsh;
    wire signed [SH_W-1:0] z = shifted + ZERO_S;
    wire signed [SH_W-1:0] c = (z < 0) ? {SH_W{1'b0}} : ((z > QMAX_S) ? QMAX_S : z);
    assign y = c[OUT_W-1:0];
    wire unused_hi = ^c[SH_W-1:OUT_W];
endmodule

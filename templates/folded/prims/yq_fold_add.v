// yq_fold_add: the folded engine's residual add of two code tensors of N elements,
// y = clamp(rs(a - ZA, SA) + rs(b - ZB, SB) + ZO, 0, QMAX) with rs the spec's rounding shift
// (right for a positive shift, left for a negative one). Per element (single memory port):
// phase 0 reads a (and clamps the previous element's sum), phase 1 reads b and registers a's
// code, phase 2 registers b's code, rescales a and writes the previous element's result,
// phase 3 rescales b. Every step starts and ends in a register: the memory's read data only
// reaches a byte register (the block RAM's output path is not shared with the rescaler's
// subtract and shift), and no path runs from an adder into the memory. Two more cycles
// after the last element clamp and write it. Cycles: 4*N + 3.
module yq_fold_add #(
    parameter AB = 17,
    parameter IW = 24,
    parameter RSW = 6,      // bits of the largest right shift
    parameter LSW = 1,      // bits of the largest left shift
    parameter LS_EN = 1     // 0: no add shifts left
) (
    input wire clk,
    input wire rst,
    input wire go,
    output reg done,
    input wire [AB-1:0] d_n, input wire [AB-1:0] d_a, input wire [AB-1:0] d_b, input wire [AB-1:0] d_out,
    input wire [7:0] d_za, input wire [7:0] d_zb, input wire [7:0] d_zo, input wire [7:0] d_qmax,
    input wire [7:0] d_sa, input wire [7:0] d_sb,
    output wire m_rd, output wire m_wr, output wire [AB-1:0] m_addr, output wire [15:0] m_wdata,
    input wire [7:0] m_rbyte
);
    localparam [AB-1:0] ONE_A = 1;
    reg run, fl;
    reg [1:0] ph;
    reg [AB-1:0] i, pi, wi;
    reg [7:0] c8;           // the code read in the previous cycle
    reg signed [IW-1:0] ta, tb, taz;
    reg pv;                 // taz + tb hold element pi's terms
    reg [7:0] yq;           // element wi's result, written in phase 2 of the next element
    reg yv;
    localparam signed [IW-1:0] ONE = 1;
    // One rounding shifter for both inputs: (x - z) shifted by the signed amount s of the
    // input registered (a in phase 2, b in phase 3), at the design's shift widths.
    wire [7:0] z = (ph == 2'd2) ? d_za : d_zb;
    wire [7:0] s = (ph == 2'd2) ? d_sa : d_sb;
    wire [7:0] ns = 8'd0 - s;
    wire signed [IW-1:0] v = $signed({{(IW-8){1'b0}}, c8}) - $signed({{(IW-8){1'b0}}, z});
    wire [RSW-1:0] r = s[7] ? {RSW{1'b0}} : s[RSW-1:0];
    wire [LSW-1:0] l = (LS_EN != 0 && s[7]) ? ns[LSW-1:0] : {LSW{1'b0}};
    wire signed [IW-1:0] rv = ((v <<< l) + ((r == {RSW{1'b0}}) ? {IW{1'b0}} : (ONE <<< (r - 1'b1)))) >>> r;
    wire unused_s = ^{s, ns};
    wire signed [IW-1:0] sum = taz + tb;
    wire signed [IW-1:0] qm = $signed({{(IW-8){1'b0}}, d_qmax});
    wire [7:0] y = (sum < 0) ? 8'd0 : ((sum > qm) ? d_qmax : sum[7:0]);
    assign m_rd = run && !fl && (ph == 2'd0 || ph == 2'd1);
    assign m_wr = run && yv && (fl ? (ph == 2'd1) : (ph == 2'd2));
    wire [AB-1:0] a = (ph == 2'd0 && !fl) ? (d_a + i) : ((ph == 2'd1 && !fl) ? (d_b + i) : (d_out + wi));
    assign m_addr = run ? a : {AB{1'b0}};
    assign m_wdata = m_wr ? {8'd0, yq} : 16'd0;
    always @(posedge clk) begin
        done <= 1'b0;
        c8 <= m_rbyte;
        if (rst) begin
            run <= 1'b0;
        end else if (go) begin
            run <= 1'b1; fl <= 1'b0; ph <= 2'd0; i <= 0; yv <= 1'b0; pv <= 1'b0;
        end else if (run && fl) begin
            // the last element: clamp, then write
            if (ph == 2'd0) begin
                yq <= y; yv <= 1'b1; wi <= pi; ph <= 2'd1;
            end else begin
                run <= 1'b0; done <= 1'b1;
            end
        end else if (run) begin
            if (ph == 2'd0) begin
                yq <= y; yv <= pv; wi <= pi;
            end
            if (ph == 2'd2) ta <= rv;
            if (ph == 2'd3) begin
                tb <= rv; taz <= ta + $signed({{(IW-8){1'b0}}, d_zo});
                pv <= 1'b1; pi <= i;
                i <= i + ONE_A;
                if (i == d_n - ONE_A) fl <= 1'b1;
            end
            ph <= ph + 2'd1;
        end
    end
endmodule

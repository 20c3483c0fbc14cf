// yq_fold_pool: the folded engine's window unit: max-pool (k x k, stride S, padding PAD)
// and nearest-neighbour upsample over C channels, from the layer descriptor. Every output
// position (oy, ox) reads the window at input row (oy / F) * S - PAD, column (ox / F) * S - PAD:
// a max-pool has F = 1, an upsample by F is a 1 x 1 window with S = 1. Per output code: K*K
// tap reads (padded taps are skipped: codes are never below 0, so they cannot win), one cycle
// that takes the last tap's code into the maximum (no path from the memory's read data to its
// write data), then one write; an output takes K*K + 2 cycles. Codes are written in
// channel-major order from OUT. Cycles: C*HO*WO*(K*K + 2) + 1 (see src/rtl/folded/cycles.rs).
module yq_fold_pool #(
    parameter AB = 17,
    parameter CW = 16
) (
    input wire clk,
    input wire rst,
    input wire go,
    output reg done,
    input wire [CW-1:0] d_c_m1, input wire [CW-1:0] d_hp, input wire [CW-1:0] d_wp,
    input wire [CW-1:0] d_ho_m1, input wire [CW-1:0] d_wo_m1,
    input wire [7:0] d_k_m1, input wire [7:0] d_s, input wire [7:0] d_pad, input wire [7:0] d_padt, input wire [7:0] d_f_m1,
    input wire [AB-1:0] d_pix0, input wire [AB-1:0] d_out, input wire [AB-1:0] d_rowstep,
    input wire [AB-1:0] d_sw, input wire [AB-1:0] d_hw,
    output wire m_rd, output wire m_wr, output wire [AB-1:0] m_addr, output wire [15:0] m_wdata,
    input wire [7:0] m_rbyte
);
    localparam [AB-1:0] ONE_A = 1;
    localparam [1:0] S_IDLE = 2'd0, S_TAP = 2'd1, S_MAX = 2'd2, S_WR = 2'd3;
    reg [1:0] state;
    reg [CW-1:0] c, ox, oy, oxs, oys, kx, ky;
    // chan0: the channel's first window (d_pix0 + c * HW); pix_row, pix_in: the output row's
    // and pixel's window; the tap reads pix_in + tap_off (one adder before the memory port)
    reg [AB-1:0] chan0, pix_in, pix_row, tap_off, oaddr;
    reg [7:0] mx;
    reg [7:0] fx, fy;   // repeats of the current input column / row (upsample)
    reg v1;
    wire fx_end = (fx == d_f_m1);
    wire fy_end = (fy == d_f_m1);
    wire [CW-1:0] km1 = {{(CW-8){1'b0}}, d_k_m1};
    wire [CW-1:0] padw = {{(CW-8){1'b0}}, d_pad};
    wire [CW-1:0] padtw = {{(CW-8){1'b0}}, d_padt};
    // the tap's input row and column (oys + ky, oxs + kx), registers stepped with the counters
    reg [CW-1:0] iy, ix;
    // d_hp, d_wp: the window's far edges (height/width plus padding, from the descriptor)
    wire pad = (iy < padtw) || (iy >= d_hp) || (ix < padw) || (ix >= d_wp);
    wire last_tap = (kx == km1) && (ky == km1);
    wire rd = (state == S_TAP) && !pad;
    // the running maximum including the code arriving this cycle
    wire [7:0] mx_now = (v1 && m_rbyte > mx) ? m_rbyte : mx;
    assign m_rd = rd;
    assign m_wr = (state == S_WR);
    // steered by the state alone (the memory ignores the address without a read or write);
    // 0 while idle, for the core's OR of the units' ports
    wire [AB-1:0] a = (state == S_TAP) ? (pix_in + tap_off) : oaddr;
    assign m_addr = (state != S_IDLE) ? a : {AB{1'b0}};
    assign m_wdata = m_wr ? {8'd0, mx} : 16'd0;
    wire row_end = (ox == d_wo_m1);
    wire last_px = row_end && (oy == d_ho_m1);
    // the next output's window (S_WR): the same column again while upsampling, the next
    // column, the row's first window again, the next row, or the next channel's first
    wire [AB-1:0] pix_next = !row_end ? (fx_end ? pix_in + {{(AB-8){1'b0}}, d_s} : pix_in)
                           : (!last_px ? (fy_end ? pix_row + d_sw : pix_row) : chan0 + d_hw);
    always @(posedge clk) begin
        done <= 1'b0;
        v1 <= !rst && rd;
        if (rst) begin
            state <= S_IDLE;
        end else begin
            case (state)
            S_IDLE: if (go) begin
                state <= S_TAP; c <= 0; ox <= 0; oy <= 0; oxs <= 0; oys <= 0; kx <= 0; ky <= 0; fx <= 0; fy <= 0;
                chan0 <= d_pix0; pix_in <= d_pix0; pix_row <= d_pix0; tap_off <= 0; oaddr <= d_out; mx <= 0;
                iy <= 0; ix <= 0;
            end
            S_TAP: begin
                mx <= mx_now;
                if (kx != km1) begin
                    kx <= kx + 1'b1; tap_off <= tap_off + ONE_A; ix <= ix + 1'b1;
                end else begin
                    kx <= 0; ky <= ky + 1'b1; tap_off <= tap_off + d_rowstep; ix <= oxs; iy <= iy + 1'b1;
                end
                if (last_tap) state <= S_MAX;
            end
            S_MAX: begin
                mx <= mx_now; state <= S_WR;
            end
            S_WR: begin
                mx <= 0; kx <= 0; ky <= 0; oaddr <= oaddr + ONE_A;
                state <= S_TAP; pix_in <= pix_next; tap_off <= 0;
                if (!row_end) begin
                    ox <= ox + 1'b1; iy <= oys;
                    if (!fx_end) begin
                        fx <= fx + 8'd1; ix <= oxs;
                    end else begin
                        fx <= 0; oxs <= oxs + {{(CW-8){1'b0}}, d_s}; ix <= oxs + {{(CW-8){1'b0}}, d_s};
                    end
                end else begin
                    ox <= 0; oxs <= 0; fx <= 0; ix <= 0;
                    if (!last_px) begin
                        oy <= oy + 1'b1;
                        if (!fy_end) begin
                            fy <= fy + 8'd1; iy <= oys;
                        end else begin
                            fy <= 0; oys <= oys + {{(CW-8){1'b0}}, d_s}; iy <= oys + {{(CW-8){1'b0}}, d_s};
                            pix_row <= pix_next;
                        end
                    end else begin
                        oy <= 0; oys <= 0; fy <= 0; iy <= 0;
                        chan0 <= pix_next; pix_row <= pix_next;
                        c <= c + 1'b1;
                        if (c == d_c_m1) begin
                            state <= S_IDLE; done <= 1'b1;
                        end
                    end
                end
            end
            default: state <= S_IDLE;
            endcase
        end
    end
endmodule

// yq_fold_core: the folded engine. One P-lane MAC array and a handful of units (input,
// convolution, window (max-pool and upsample), add, and the design's post-processing stage
// through the `q_*` port) execute the network layer by layer. Each layer's descriptor, SiLU table,
// parameters and weights arrive in order on one flash byte stream (yq_fold_loader); the
// activations live in one single-ported 16-bit memory (SPRAM on iCE40) addressed here in
// bytes. Layer kinds: 0 input, 1 conv, 2 max-pool, 3 upsample, 4 add, 5 post-processing,
// 6 copy between DRAM and the activation memory (boards with external memory, where the
// activation memory holds the tiles of one row band: yq_fold_dma on the `s_*` port, a
// yq_sdram_ctrl user port; designs without DRAM set DMA = 0: no copy unit, the port idle).
//
// Per layer: start the loader, wait for the decoded descriptor, start the unit, wait for
// its done (and, for a convolution, for the loader to have taken the whole record), next.
// After the last layer `finished` rises and the host port reads the memory.
// With DMA = 1 (row bands) the flash image is a program: every step's descriptor at
// step * DESC_BYTES, each convolution's table, parameters and weights once, after them. The
// core restarts the stream (`f_start` with the image offset `f_addr`) at every step's
// descriptor and, for a convolution, at its `body` once the descriptor is in; without DMA the
// image is one sequential read from offset 0.
module yq_fold_core #(
    parameter NL = 8, parameter LYW = 3,
    parameter AB = 17, parameter P = 16, parameter LW = 4, parameter WTW = 8,
    parameter ACC_W = 32, parameter BIAS_W = 32, parameter SH_W = 40, parameter OFFSET = 128,
    parameter RSH_W = 6, parameter LSH_W = 1, parameter LSH_EN = 1,
    parameter ADD_W = 24, parameter ADD_RSW = 6, parameter ADD_LSW = 1, parameter ADD_LS_EN = 1,
    parameter DESC_BYTES = 72, parameter DW = 16,
    parameter DMA = 0, parameter DA = 1,   // DMA = 1: the copy unit and the DRAM port
    parameter QAW = AB,                    // post-processing byte addresses (DRAM's with DMA = 1)
    parameter IMPL = "generic"   // "ice40": SB_MAC16 multipliers
) (
    input wire clk,
    input wire rst,
    input wire start,
    output wire busy,
    output reg finished,
    output reg [LYW-1:0] layer,
    // flash byte stream (restarts at image offset `f_addr` on `f_start`)
    output reg f_start, output wire [23:0] f_addr,
    input wire f_valid, input wire [7:0] f_data, output wire f_ready,
    // input pixels
    input wire in_valid, input wire [7:0] in_data, output wire in_ready,
    // activation memory (16-bit words, byte write enables, 1-cycle read latency)
    output wire mem_re, output wire mem_we, output wire [AB-2:0] mem_addr,
    output wire [1:0] mem_be, output wire [15:0] mem_wdata, input wire [15:0] mem_rdata,
    // post-processing unit
    // (DMA = 1: its memory is the DRAM; q_req holds a load or store until q_ok)
    output reg q_go, input wire q_done,
    input wire q_rd, input wire [QAW-1:0] q_raddr, input wire q_wr, input wire q_wide,
    input wire [QAW-1:0] q_waddr, input wire [15:0] q_wdata,
    output wire [7:0] q_rdata, output wire [15:0] q_rword,
    input wire q_req, output wire q_ok,
    // DRAM (a yq_sdram_ctrl user port, 16-bit word addresses)
    output wire s_req, output wire s_we, output wire [DA-1:0] s_addr,
    output wire [15:0] s_wdata, output wire [1:0] s_wbe,
    input wire s_ready, input wire s_rvalid, input wire [15:0] s_rdata,
    // host read-back (when not busy), 1-cycle latency
    input wire [AB-1:0] host_addr, output wire [7:0] host_data,
    // for testbenches: the code written this cycle and layer start/end pulses
    output wire code_we, output wire [AB-1:0] code_addr, output wire [7:0] code_data,
    output reg layer_go, output reg layer_done
);
    localparam [7:0] K_INPUT = 8'd0, K_CONV = 8'd1, K_POOL = 8'd2, K_UP = 8'd3, K_ADD = 8'd4, K_POST = 8'd5,
                     K_DMA = 8'd6;
    localparam [2:0] C_IDLE = 3'd0, C_LOAD = 3'd1, C_DESC = 3'd2, C_RUN = 3'd3, C_NEXT = 3'd4;
    localparam [LYW-1:0] LAST = NL - 1;

    // ---- descriptor ---------------------------------------------------------------------
    wire d_we;
    wire [7:0] d_data;
    wire [7:0] kind, flags, k_m1, s, pad, padt, padv, nch_m1, lanes_last, zero, qmax, za, zb, sa, sb, f_m1;
    wire [DW-1:0] c_m1, hp, wp, ho_m1, wo_m1, g, tc_m1, tc_last_m1, lut_len;
    wire [AB-1:0] pix0, out, inb, rowstep, chstep, chunkstep, sw, gstep, howo, hw, n, psum;
    wire [7:0] dir;
    wire [DW-1:0] nseg;
    wire [AB-1:0] seg, cstride;
    wire [DA-1:0] dram, dstride;
    wire [23:0] body;
    yq_fold_desc u_desc (
        .clk(clk), .we(d_we), .data(d_data),
        .kind(kind), .flags(flags), .c_m1(c_m1), .hp(hp), .wp(wp), .ho_m1(ho_m1), .wo_m1(wo_m1),
        .k_m1(k_m1), .s(s), .pad(pad), .padt(padt), .padv(padv), .pix0(pix0), .out(out), .inb(inb),
        .g(g), .nch_m1(nch_m1), .tc_m1(tc_m1), .tc_last_m1(tc_last_m1), .lanes_last(lanes_last),
        .rowstep(rowstep), .chstep(chstep), .chunkstep(chunkstep), .sw(sw), .gstep(gstep),
        .howo(howo), .hw(hw), .zero(zero), .qmax(qmax), .lut_len(lut_len),
        .za(za), .zb(zb), .sa(sa), .sb(sb), .f_m1(f_m1), .n(n), .psum(psum),
        .dir(dir), .dram(dram), .nseg(nseg), .seg(seg), .dstride(dstride), .cstride(cstride),
        .body(body)
    );

    // ---- controller ---------------------------------------------------------------------
    reg [2:0] cs;
    reg ld_go;
    reg go_in, go_conv, go_pool, go_add, go_dma;
    wire desc_ok, ld_idle, ld_jump;
    // the program counter: the image offset of the current step's descriptor (DMA = 1)
    localparam [23:0] DESC_B = DESC_BYTES;
    reg [23:0] pc, f_off;
    assign f_addr = (DMA != 0) ? f_off : 24'd0;
    wire dn_in, dn_conv, dn_pool, dn_add, dn_dma;
    wire dn_any = dn_in || dn_conv || dn_pool || dn_add || dn_dma || q_done;
    reg unit_done;
    assign busy = (cs != C_IDLE);
    always @(posedge clk) begin
        f_start <= 1'b0; ld_go <= 1'b0; layer_go <= 1'b0; layer_done <= 1'b0;
        go_in <= 1'b0; go_conv <= 1'b0; go_pool <= 1'b0; go_add <= 1'b0; go_dma <= 1'b0; q_go <= 1'b0;
        if (rst) begin
            cs <= C_IDLE; finished <= 1'b0; layer <= 0; unit_done <= 1'b0;
        end else begin
            case (cs)
            C_IDLE: if (start) begin
                cs <= C_LOAD; finished <= 1'b0; layer <= 0; f_start <= 1'b1;
                pc <= 24'd0; f_off <= 24'd0;
            end
            C_LOAD: begin
                ld_go <= 1'b1; cs <= C_DESC;
                if (DMA != 0) begin f_start <= 1'b1; f_off <= pc; end
            end
            C_DESC: if (desc_ok) begin
                layer_go <= 1'b1; unit_done <= 1'b0; cs <= C_RUN;
                go_in <= (kind == K_INPUT); go_conv <= (kind == K_CONV); go_pool <= (kind == K_POOL) || (kind == K_UP);
                go_add <= (kind == K_ADD); go_dma <= (kind == K_DMA); q_go <= (kind == K_POST);
            end
            C_RUN: begin
                if (dn_any) unit_done <= 1'b1;
                if ((unit_done || dn_any) && ld_idle) begin
                    layer_done <= 1'b1; cs <= C_NEXT;
                end
            end
            C_NEXT: if (layer == LAST) begin
                cs <= C_IDLE; finished <= 1'b1;
            end else begin
                layer <= layer + 1'b1; cs <= C_LOAD; pc <= pc + DESC_B;
            end
            default: cs <= C_IDLE;
            endcase
            if (DMA != 0 && ld_jump) begin f_start <= 1'b1; f_off <= body; end
        end
    end

    // ---- buffers ------------------------------------------------------------------------
    // The loader writes one byte per cycle into byte lanes: the weight buffer is P lanes
    // (one per output channel, each a 8-bit memory of two slots of 2^WTW taps), the parameter
    // buffer the bias bytes kept (BIAS_W bits) and the shift byte of 2*P words. A read
    // returns all lanes of one address (registered).
    localparam PB_LANES = (BIAS_W + 7) / 8;
    wire lut_we, pb_we, wb_we;
    wire [7:0] lut_waddr, lut_wdata, lut_raddr, b_wdata;
    wire [LW:0] pb_waddr, pb_raddr;
    wire [2:0] pb_wbyte;
    wire [WTW:0] wb_waddr, wb_raddr;
    wire [LW-1:0] wb_wlane;
    reg [7:0] lut_mem [0:255];
    reg [7:0] lut_q;
    always @(posedge clk) begin
        if (lut_we) lut_mem[lut_waddr] <= lut_wdata;
        lut_q <= lut_mem[lut_raddr];
    end
    wire [8*PB_LANES-1:0] pb_bias;
    (* ram_style = "block" *) reg [7:0] pb_sh_mem [0:2*P-1];
    reg [7:0] pb_sh;
    always @(posedge clk) begin
        if (pb_we && pb_wbyte == 3'd4) pb_sh_mem[pb_waddr] <= b_wdata;
        pb_sh <= pb_sh_mem[pb_raddr];
    end
    wire [BIAS_W+7:0] pb_q = {pb_sh, pb_bias[BIAS_W-1:0]};
    wire [P*8-1:0] wb_q;
    genvar gb;
    generate
        for (gb = 0; gb < PB_LANES; gb = gb + 1) begin : g_pb
            localparam [2:0] B = gb;
            (* ram_style = "block" *) reg [7:0] mem [0:2*P-1];
            reg [7:0] q;
            always @(posedge clk) begin
                if (pb_we && pb_wbyte == B) mem[pb_waddr] <= b_wdata;
                q <= mem[pb_raddr];
            end
            assign pb_bias[8*gb +: 8] = q;
        end
        for (gb = 0; gb < P; gb = gb + 1) begin : g_wb
            localparam [LW-1:0] L = gb;
            (* ram_style = "block" *) reg [7:0] mem [0:(2 << WTW)-1];
            reg [7:0] q;
            always @(posedge clk) begin
                if (wb_we && wb_wlane == L) mem[wb_waddr] <= b_wdata;
                q <= mem[wb_raddr];
            end
            assign wb_q[8*gb +: 8] = q;
        end
        if (8 * PB_LANES > BIAS_W) begin : g_pb_unused
            wire unused_pb = ^pb_bias[8*PB_LANES-1:BIAS_W];
        end
    endgenerate

    // ---- loader -------------------------------------------------------------------------
    wire [DW-1:0] loaded, consumed;
    yq_fold_loader #(.P(P), .LW(LW), .WTW(WTW), .DESC_BYTES(DESC_BYTES), .CW(DW), .JUMP(DMA)) u_loader (
        .clk(clk), .rst(rst), .go(ld_go), .desc_ok(desc_ok), .idle(ld_idle), .jump(ld_jump),
        .s_valid(f_valid), .s_data(f_data), .s_ready(f_ready),
        .d_we(d_we), .d_data(d_data),
        .d_is_conv(kind == K_CONV), .d_has_lut(flags[0]), .d_lut_len(lut_len),
        .d_g(g), .d_nch_m1(nch_m1), .d_tc_m1(tc_m1), .d_tc_last_m1(tc_last_m1),
        .lut_we(lut_we), .lut_waddr(lut_waddr), .lut_wdata(lut_wdata),
        .pb_we(pb_we), .pb_waddr(pb_waddr), .pb_wbyte(pb_wbyte),
        .wb_we(wb_we), .wb_waddr(wb_waddr), .wb_wlane(wb_wlane), .b_wdata(b_wdata),
        .loaded(loaded), .consumed(consumed)
    );

    // ---- memory port: units take turns; unused ports drive zeros -------------------------
    wire [7:0] rbyte;
    wire cv_rd, cv_wr, cv_wide, pl_rd, pl_wr, ad_rd, ad_wr, in_wr;
    wire [AB-1:0] cv_a, pl_a, ad_a, in_a;
    wire [15:0] cv_d, pl_d, ad_d, in_d;

    wire mac_en, mac_first, mac_last, mac_valid;
    wire signed [7:0] mac_act;
    wire [P*8-1:0] mac_w;
    wire [P*ACC_W-1:0] mac_acc;
    yq_mac_array #(.LANES(P), .ACC_W(ACC_W), .HOLD(0), .IMPL(IMPL)) u_mac (
        .clk(clk), .rst(rst), .en(mac_en), .first(mac_first), .last(mac_last),
        .act(mac_act), .w(mac_w), .acc(mac_acc), .acc_valid(mac_valid)
    );

    yq_fold_conv #(.AB(AB), .P(P), .LW(LW), .WTW(WTW), .ACC_W(ACC_W), .BIAS_W(BIAS_W),
                   .SH_W(SH_W), .RSH_W(RSH_W), .LSH_W(LSH_W), .LSH_EN(LSH_EN), .OFFSET(OFFSET),
                   .CW(DW)) u_conv (
        .clk(clk), .rst(rst), .go(go_conv), .done(dn_conv),
        .d_hp(hp), .d_wp(wp), .d_ho_m1(ho_m1), .d_wo_m1(wo_m1), .d_k_m1(k_m1), .d_s(s), .d_pad(pad), .d_padt(padt), .d_padv(padv),
        .d_pix0(pix0), .d_out(out), .d_psum(psum), .d_g(g), .d_nch_m1(nch_m1), .d_tc_m1(tc_m1), .d_tc_last_m1(tc_last_m1),
        .d_lanes_last(lanes_last), .d_rowstep(rowstep), .d_chstep(chstep), .d_chunkstep(chunkstep),
        .d_sw(sw), .d_gstep(gstep), .d_howo(howo), .d_zero(zero), .d_qmax(qmax), .d_has_lut(flags[0]),
        .loaded(loaded), .consumed(consumed),
        .m_rd(cv_rd), .m_wr(cv_wr), .m_wide(cv_wide), .m_addr(cv_a), .m_wdata(cv_d),
        .m_rbyte(rbyte), .m_rword(mem_rdata),
        .wb_addr(wb_raddr), .wb_data(wb_q), .pb_addr(pb_raddr), .pb_data(pb_q),
        .lut_addr(lut_raddr), .lut_data(lut_q),
        .mac_en(mac_en), .mac_first(mac_first), .mac_last(mac_last), .mac_act(mac_act), .mac_w(mac_w),
        .mac_acc(mac_acc), .mac_valid(mac_valid)
    );
    yq_fold_pool #(.AB(AB), .CW(DW)) u_pool (
        .clk(clk), .rst(rst), .go(go_pool), .done(dn_pool),
        .d_c_m1(c_m1), .d_hp(hp), .d_wp(wp), .d_ho_m1(ho_m1), .d_wo_m1(wo_m1), .d_k_m1(k_m1), .d_s(s), .d_pad(pad), .d_padt(padt), .d_f_m1(f_m1),
        .d_pix0(pix0), .d_out(out), .d_rowstep(rowstep), .d_sw(sw), .d_hw(hw),
        .m_rd(pl_rd), .m_wr(pl_wr), .m_addr(pl_a), .m_wdata(pl_d), .m_rbyte(rbyte)
    );
    yq_fold_add #(.AB(AB), .IW(ADD_W), .RSW(ADD_RSW), .LSW(ADD_LSW), .LS_EN(ADD_LS_EN)) u_add (
        .clk(clk), .rst(rst), .go(go_add), .done(dn_add),
        .d_n(n), .d_a(pix0), .d_b(inb), .d_out(out), .d_za(za), .d_zb(zb), .d_zo(zero), .d_qmax(qmax),
        .d_sa(sa), .d_sb(sb),
        .m_rd(ad_rd), .m_wr(ad_wr), .m_addr(ad_a), .m_wdata(ad_d), .m_rbyte(rbyte)
    );
    yq_fold_input #(.AB(AB)) u_in (
        .clk(clk), .rst(rst), .go(go_in), .done(dn_in),
        .d_n(n), .d_out(out), .d_shift(s),
        .in_valid(in_valid), .in_data(in_data), .in_ready(in_ready),
        .m_wr(in_wr), .m_addr(in_a), .m_wdata(in_d)
    );

    // copies: whole words at word addresses (the tile side of yq_fold_dma)
    localparam NW = (AB > DW) ? AB : DW;
    wire dm_rd, dm_wr;
    wire [AB-2:0] dm_a;
    wire [15:0] dm_d;
    wire [NW:0] nseg_x = {{(NW + 1 - DW){1'b0}}, nseg};
    wire [NW:0] seg_x = {{(NW + 1 - AB){1'b0}}, seg};
    // the post-processing stage's DRAM accesses (DMA = 1): one request per held load or
    // store, the read word registered, q_ok the cycle after the controller took a write or
    // returned a read
    reg pa_busy, pa_ok, pa_lo;
    reg [15:0] pa_word;
    wire pa_issue = (DMA != 0) && q_req && !pa_busy && !pa_ok;
    generate
        if (DMA != 0) begin : g_dma
            wire dq_req, dq_we;
            wire [DA-1:0] dq_addr;
            wire [15:0] dq_wdata;
            wire [1:0] dq_wbe;
            yq_fold_dma #(.CA(AB - 1), .DA(DA), .NW(NW)) u_dma (
                .clk(clk), .rst(rst), .go(go_dma), .done(dn_dma),
                .d_dir(dir[0]), .d_dram(dram), .d_chip(out[AB-2:0]),
                .d_nseg(nseg_x[NW-1:0]), .d_seg(seg_x[NW-1:0]),
                .d_dstride(dstride), .d_cstride(cstride[AB-2:0]),
                .c_rd(dm_rd), .c_wr(dm_wr), .c_addr(dm_a), .c_wdata(dm_d), .c_rdata(mem_rdata),
                .s_req(dq_req), .s_we(dq_we), .s_addr(dq_addr), .s_wdata(dq_wdata), .s_wbe(dq_wbe),
                .s_ready(s_ready), .s_rvalid(s_rvalid), .s_rdata(s_rdata)
            );
            assign s_req = dq_req | pa_issue;
            assign s_we = pa_issue ? q_wr : dq_we;
            assign s_addr = pa_issue ? q_raddr[DA:1] : dq_addr;
            assign s_wdata = pa_issue ? (q_wide ? q_wdata : {q_wdata[7:0], q_wdata[7:0]}) : dq_wdata;
            assign s_wbe = pa_issue ? (q_wide ? 2'b11 : (q_raddr[0] ? 2'b10 : 2'b01)) : dq_wbe;
            always @(posedge clk) begin
                pa_ok <= 1'b0;
                if (rst) begin
                    pa_busy <= 1'b0;
                end else if (pa_issue && s_ready) begin
                    pa_lo <= q_raddr[0];
                    if (q_wr) pa_ok <= 1'b1;
                    else pa_busy <= 1'b1;
                end else if (pa_busy && s_rvalid) begin
                    pa_busy <= 1'b0; pa_ok <= 1'b1; pa_word <= s_rdata;
                end
            end
            wire unused_q = ^{q_waddr, q_rd};
        end else begin : g_no_dma
            assign dn_dma = 1'b0;
            assign {dm_rd, dm_wr, dm_a, dm_d} = 0;
            assign {s_req, s_we, s_addr, s_wdata, s_wbe} = 0;
            always @(posedge clk) begin
                pa_busy <= 1'b0; pa_ok <= 1'b0; pa_lo <= 1'b0; pa_word <= 16'd0;
            end
            wire unused_dma = ^{go_dma, dir[0], dram, dstride, s_ready, s_rvalid, s_rdata, nseg_x, seg_x,
                                out[AB-2:0], cstride[AB-2:0], q_req, pa_issue};
        end
    endgenerate
    assign q_ok = pa_ok;
    wire dm_on = dm_rd | dm_wr;

    // the post-processing stage uses this memory only without DRAM
    wire qt_rd = q_rd && (DMA == 0), qt_wr = q_wr && (DMA == 0);
    wire [AB-1:0] qt_raddr = q_raddr[AB-1:0], qt_waddr = q_waddr[AB-1:0];
    wire host_rd = !busy;
    wire rd = cv_rd | pl_rd | ad_rd | qt_rd | dm_rd | host_rd;
    wire wr = cv_wr | pl_wr | ad_wr | in_wr | qt_wr | dm_wr;
    wire [AB-1:0] a = cv_a | pl_a | ad_a | in_a | (qt_rd ? qt_raddr : {AB{1'b0}})
                    | (qt_wr ? qt_waddr : {AB{1'b0}}) | (host_rd ? host_addr : {AB{1'b0}})
                    | (dm_on ? {dm_a, 1'b0} : {AB{1'b0}});
    wire [15:0] wd = cv_d | pl_d | ad_d | in_d | (qt_wr ? q_wdata : 16'd0) | (dm_wr ? dm_d : 16'd0);
    wire wide = cv_wide | (qt_wr & q_wide) | dm_wr;
    assign mem_re = rd;
    assign mem_we = wr;
    assign mem_addr = a[AB-1:1];
    assign mem_be = wide ? 2'b11 : (a[0] ? 2'b10 : 2'b01);
    assign mem_wdata = wide ? wd : {wd[7:0], wd[7:0]};
    reg rsel;
    always @(posedge clk) if (rd) rsel <= a[0];
    assign rbyte = rsel ? mem_rdata[15:8] : mem_rdata[7:0];
    assign q_rdata = (DMA != 0) ? (pa_lo ? pa_word[15:8] : pa_word[7:0]) : rbyte;
    assign q_rword = (DMA != 0) ? pa_word : mem_rdata;
    assign host_data = rbyte;
    assign code_we = wr && !wide;
    assign code_addr = a;
    assign code_data = wd[7:0];
    wire unused = ^{flags[7:1], dir[7:1], out[AB-1], cstride[AB-1], nseg_x[NW], seg_x[NW]};
endmodule

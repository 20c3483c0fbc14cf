// yq_sdram_ctrl: a single-port controller for a 16-bit SDR SDRAM such as the ULX3S's
// MT48LC16M16A2 (4 banks x 8192 rows x 512 columns x 16 bits, 32 MB). Burst length 1, CAS
// latency CL (2 or 3), one row kept open per bank, auto-refresh at the average interval.
//
// Timing parameters are the datasheet's minimums in ns (or us / ms where so named); each is
// converted to clock cycles at CLK_HZ by rounding up (the datasheet's own rule), with at
// least one cycle. Defaults cover the -6A, -7E and -75 speed grades of the Micron part and
// the Alliance AS4C32M16SB some boards carry (the larger of each value).
//
// User port (all sampled at the rising edge of clk):
//   req, we, addr, wdata, wbe : a request; taken in a cycle where req && ready. addr is a
//       16-bit word address {row, bank, column} (column in the low bits, so a linear sweep
//       stays in one row for 512 words and then moves to the next bank). A write stores
//       byte 0 (wdata[7:0]) if wbe[0] and byte 1 if wbe[1].
//   ready : requests are taken (low during initialisation and while a refresh is due).
//   rvalid, rdata : read data, in request order, CL + RD_EXTRA + 1 cycles after the READ
//       command left the controller; rvalid is high for one cycle per read.
//   init_done : the power-up sequence has finished.
// Back-to-back requests to an open row issue one column command per cycle; a write after a
// read waits CL + 2 cycles for the data bus to turn around.
//
// SDRAM pins: registered outputs (cke, cs_n, ras_n, cas_n, we_n, ba, a, dqm, dq_o, dq_oe) and
// dq_i. The board top drives the SDRAM clock inverted (the SDRAM samples commands in the
// middle of the controller's cycle) and captures dq_i RD_EXTRA cycles after the data
// appears; RD_EXTRA = 1 suits that inverted clock while tAC < half a period.
//
// Power-up [Micron 256Mb SDRAM datasheet, "Initialization"]: NOP for T_INIT_US with CKE
// high, PRECHARGE ALL, N_INIT_REF x AUTO REFRESH, LOAD MODE REGISTER (BL = 1, sequential,
// CL), tMRD. Refresh: an AUTO REFRESH at least every T_REF_MS / REF_ROWS (64 ms / 8192 =
// 7.8 us), issued after closing all rows with PRECHARGE ALL; the interval is shortened by
// the longest wait a due refresh can see, so the gap between two refreshes never exceeds it.
module yq_sdram_ctrl #(
    parameter CLK_HZ = 50000000,
    parameter CL = 3,
    parameter RD_EXTRA = 1,
    parameter ROW_W = 13,
    parameter COL_W = 9,
    parameter T_INIT_US = 200,   // Micron: 100 us; Alliance AS4C32M16SB: 200 us
    parameter N_INIT_REF = 8,    // Micron: 2; Alliance: 8
    parameter T_RCD_NS = 20,
    parameter T_RP_NS = 21,
    parameter T_RC_NS = 66,
    parameter T_RAS_NS = 44,
    parameter T_RFC_NS = 66,
    parameter T_RRD_NS = 15,
    parameter T_WR_NS = 15,
    parameter T_MRD_CK = 2,
    parameter T_REF_MS = 64,
    parameter REF_ROWS = 8192
) (
    input wire clk,
    input wire rst,
    // user port
    input wire req,
    input wire we,
    input wire [ROW_W+COL_W+1:0] addr,
    input wire [15:0] wdata,
    input wire [1:0] wbe,
    output wire ready,
    output reg rvalid,
    output reg [15:0] rdata,
    output reg init_done,
    // SDRAM pins
    output reg sd_cke,
    output reg sd_cs_n,
    output reg sd_ras_n,
    output reg sd_cas_n,
    output reg sd_we_n,
    output reg [1:0] sd_ba,
    output reg [12:0] sd_a,
    output reg [1:0] sd_dqm,
    output reg [15:0] sd_dq_o,
    output reg sd_dq_oe,
    input wire [15:0] sd_dq_i
);
    // ---- cycle counts (rounded up, at least 1) ----
    function integer cyc(input integer ns);
        reg [63:0] p;
        begin
            p = (ns * 64'd1 * CLK_HZ + 64'd999999999) / 64'd1000000000;
            cyc = (p < 64'd1) ? 1 : p[31:0];
        end
    endfunction
    localparam integer C_RCD = cyc(T_RCD_NS);
    localparam integer C_RP = cyc(T_RP_NS);
    localparam integer C_RC = cyc(T_RC_NS);
    localparam integer C_RAS = cyc(T_RAS_NS);
    localparam integer C_RFC = cyc(T_RFC_NS);
    localparam integer C_RRD = cyc(T_RRD_NS);
    localparam integer C_WR = cyc(T_WR_NS);
    localparam integer C_MRD = (T_MRD_CK < 1) ? 1 : T_MRD_CK;
    localparam integer C_RW = CL + 2;  // READ to WRITE: the bus turns around
    localparam integer C_INIT = cyc(T_INIT_US * 1000);
    // The longest a due refresh waits before its REF: a row just opened (tRAS, or a write's
    // tWR), PRECHARGE ALL and tRP or tRC, and the previous REF's tRFC.
    localparam integer C_WAIT = C_RAS + C_WR + C_RP + C_RC + C_RFC + C_RW + 4;
    localparam [63:0] REFI_FLOOR = (64'd1000000 * T_REF_MS * CLK_HZ)
                                   / (64'd1000000000 * REF_ROWS);
    localparam integer C_REFI = REFI_FLOOR[31:0] - C_WAIT;
    localparam integer TW = 16;  // init / refresh counter width
    localparam integer RDP = CL + RD_EXTRA;  // read pipeline stages
    // Counter loads: a command at cycle t sets "cycles left" to N - 1, so the next command
    // it gates can go at t + N.
    // n - 1 as a counter load (the high bits of t are zero for the ranges checked below)
    /* verilator lint_off UNUSEDSIGNAL */
    function [7:0] k8(input integer n);
        reg [31:0] t;
        begin
            t = n - 1;
            k8 = t[7:0];
        end
    endfunction
    function [TW-1:0] k16(input integer n);
        reg [31:0] t;
        begin
            t = n - 1;
            k16 = t[TW-1:0];
        end
    endfunction
    /* verilator lint_on UNUSEDSIGNAL */
    localparam [7:0] K_RCD = k8(C_RCD), K_RP = k8(C_RP), K_RC = k8(C_RC), K_RAS = k8(C_RAS);
    localparam [7:0] K_RFC = k8(C_RFC), K_RRD = k8(C_RRD), K_WR = k8(C_WR), K_MRD = k8(C_MRD);
    localparam [7:0] K_RW = k8(C_RW);
    localparam [7:0] N_IREF = k8(N_INIT_REF + 1);
    localparam [TW-1:0] I_INIT = k16(C_INIT), I_RP = k16(C_RP), I_RFC = k16(C_RFC);
    localparam [TW-1:0] R_FIRST = k16(C_REFI - C_RFC - C_MRD + 1), R_NEXT = k16(C_REFI);

    // Refuse parameters that cannot work (elaboration-time; Verilog-2005 has no $error).
    initial begin
        if (CL != 2 && CL != 3) begin
            $display("yq_sdram_ctrl: CL = %0d; the part supports 2 or 3", CL);
            $finish;
        end
        if (C_RC > 255 || C_RAS > 255 || C_RFC > 255 || C_WR > 255 || C_RP > 255
                || C_RCD > 255 || C_RRD > 255 || C_MRD > 255 || N_INIT_REF < 1
                || N_INIT_REF > 255) begin
            $display("yq_sdram_ctrl: a timing of more than 255 cycles at CLK_HZ %0d", CLK_HZ);
            $finish;
        end
        if (C_REFI < 16 || C_INIT >= (1 << TW) || C_REFI >= (1 << TW)) begin
            $display("yq_sdram_ctrl: CLK_HZ %0d gives init %0d / refresh %0d cycles; out of range",
                     CLK_HZ, C_INIT, C_REFI);
            $finish;
        end
    end

    // ---- commands {cs_n, ras_n, cas_n, we_n} ----
    localparam [3:0] CMD_NOP = 4'b0111;
    localparam [3:0] CMD_ACT = 4'b0011;
    localparam [3:0] CMD_RD = 4'b0101;
    localparam [3:0] CMD_WR = 4'b0100;
    localparam [3:0] CMD_PRE = 4'b0010;
    localparam [3:0] CMD_REF = 4'b0001;
    localparam [3:0] CMD_MRS = 4'b0000;
    // Mode register: BL = 1 (A2-0 = 000), sequential (A3 = 0), CL (A6-4), A9 = 0.
    localparam [7:0] CL8 = k8(CL + 1);
    localparam [12:0] MODE = {6'b000000, CL8[2:0], 4'b0000};

    // ---- initialisation sequencer ----
    localparam [2:0] I_WAIT = 3'd0, I_REF = 3'd2, I_MRS = 3'd3, I_DONE = 3'd4;
    reg [2:0] istate;
    reg [TW-1:0] icnt;    // cycles left in the current init step
    reg [7:0] iref;       // init refreshes left

    // ---- per-bank state ----
    reg [3:0] open;                  // a row is open
    (* mem2reg *) reg [ROW_W-1:0] orow [0:3];  // which one (flip-flops: compared every cycle)
    reg [7:0] t_act [0:3];           // cycles until ACT is allowed (tRP after PRE, tRC after ACT)
    reg [7:0] t_pre [0:3];           // until PRE (tRAS after ACT, tWR after WRITE)
    reg [7:0] t_cas [0:3];           // until READ/WRITE (tRCD after ACT)
    reg [7:0] t_rrd;                 // until an ACT to any bank
    reg [7:0] t_wr;                  // until a WRITE (after a READ)
    reg [7:0] t_busy;                // until any command (tRFC after REF, tMRD after MRS)

    // ---- refresh timer ----
    reg [TW-1:0] rcnt;
    reg ref_due;

    // ---- the pending request ----
    reg p_valid, p_we;
    reg [ROW_W-1:0] p_row;
    reg [1:0] p_bank;
    reg [COL_W-1:0] p_col;
    reg [15:0] p_wdata;
    reg [1:0] p_wbe;

    // ---- decisions for this cycle ----
    wire [7:0] pa = t_act[p_bank];
    wire [7:0] pp = t_pre[p_bank];
    wire [7:0] pc = t_cas[p_bank];
    wire p_open = open[p_bank];
    wire p_hit = p_open && orow[p_bank] == p_row;
    wire run = init_done && t_busy == 8'd0;
    wire all_pre_ok = t_pre[0] == 8'd0 && t_pre[1] == 8'd0 && t_pre[2] == 8'd0
                      && t_pre[3] == 8'd0;
    wire all_act_ok = t_act[0] == 8'd0 && t_act[1] == 8'd0 && t_act[2] == 8'd0
                      && t_act[3] == 8'd0;
    // Refresh first: close every row, then REF.
    wire do_pre_all = run && ref_due && open != 4'd0 && all_pre_ok;
    wire do_ref = run && ref_due && open == 4'd0 && all_act_ok;
    wire serve = run && !ref_due && p_valid;
    wire do_col = serve && p_hit && pc == 8'd0 && (!p_we || t_wr == 8'd0);
    wire do_pre = serve && p_open && !p_hit && pp == 8'd0;
    wire do_act = serve && !p_open && pa == 8'd0 && t_rrd == 8'd0;
    assign ready = init_done && !ref_due && (!p_valid || do_col);

    function [7:0] at_least(input [7:0] cur, input [7:0] k);
        at_least = (cur > k) ? cur : k;
    endfunction
    function [7:0] dec(input [7:0] v);
        dec = (v == 8'd0) ? 8'd0 : v - 8'd1;
    endfunction

    reg [RDP:0] rpipe;
    integer b;

    always @(posedge clk) begin
        // defaults: NOP, bus released, counters run down
        {sd_cs_n, sd_ras_n, sd_cas_n, sd_we_n} <= CMD_NOP;
        sd_dq_oe <= 1'b0;
        sd_dqm <= 2'b00;
        for (b = 0; b < 4; b = b + 1) begin
            t_act[b] <= dec(t_act[b]);
            t_pre[b] <= dec(t_pre[b]);
            t_cas[b] <= dec(t_cas[b]);
        end
        t_rrd <= dec(t_rrd);
        t_wr <= dec(t_wr);
        t_busy <= dec(t_busy);
        rpipe <= {rpipe[RDP-1:0], 1'b0};
        rvalid <= rpipe[RDP-1];
        if (rpipe[RDP-1]) rdata <= sd_dq_i;

        // ---- power-up ----
        if (!init_done) begin
            if (icnt != 0) icnt <= icnt - 1'b1;
            else case (istate)
                I_WAIT: begin
                    {sd_cs_n, sd_ras_n, sd_cas_n, sd_we_n} <= CMD_PRE;
                    sd_a[10] <= 1'b1;  // all banks
                    icnt <= I_RP;
                    istate <= I_REF;
                end
                I_REF: begin
                    {sd_cs_n, sd_ras_n, sd_cas_n, sd_we_n} <= CMD_REF;
                    icnt <= I_RFC;
                    iref <= iref - 1'b1;
                    if (iref == 8'd1) istate <= I_MRS;
                end
                I_MRS: begin
                    {sd_cs_n, sd_ras_n, sd_cas_n, sd_we_n} <= CMD_MRS;
                    sd_ba <= 2'b00;
                    sd_a <= MODE;
                    t_busy <= K_MRD;
                    istate <= I_DONE;
                    init_done <= 1'b1;
                    rcnt <= R_FIRST;
                end
                default: ;
            endcase
        end else begin
            // ---- refresh timer ----
            if (rcnt == 0) begin
                ref_due <= 1'b1;
                rcnt <= R_NEXT;
            end else rcnt <= rcnt - 1'b1;

            if (do_pre_all) begin
                {sd_cs_n, sd_ras_n, sd_cas_n, sd_we_n} <= CMD_PRE;
                sd_a[10] <= 1'b1;
                open <= 4'd0;
                for (b = 0; b < 4; b = b + 1) t_act[b] <= at_least(dec(t_act[b]), K_RP);
            end else if (do_ref) begin
                {sd_cs_n, sd_ras_n, sd_cas_n, sd_we_n} <= CMD_REF;
                t_busy <= K_RFC;
                ref_due <= 1'b0;
            end else if (do_pre) begin
                {sd_cs_n, sd_ras_n, sd_cas_n, sd_we_n} <= CMD_PRE;
                sd_ba <= p_bank;
                sd_a[10] <= 1'b0;
                open[p_bank] <= 1'b0;
                t_act[p_bank] <= at_least(dec(pa), K_RP);
            end else if (do_act) begin
                {sd_cs_n, sd_ras_n, sd_cas_n, sd_we_n} <= CMD_ACT;
                sd_ba <= p_bank;
                sd_a <= 13'd0;
                sd_a[ROW_W-1:0] <= p_row;
                open[p_bank] <= 1'b1;
                orow[p_bank] <= p_row;
                t_act[p_bank] <= at_least(dec(pa), K_RC);
                t_pre[p_bank] <= at_least(dec(pp), K_RAS);
                t_cas[p_bank] <= K_RCD;
                t_rrd <= K_RRD;
            end else if (do_col) begin
                {sd_cs_n, sd_ras_n, sd_cas_n, sd_we_n} <= p_we ? CMD_WR : CMD_RD;
                sd_ba <= p_bank;
                sd_a <= 13'd0;  // A10 = 0: no auto-precharge
                sd_a[COL_W-1:0] <= p_col;
                if (p_we) begin
                    sd_dq_o <= p_wdata;
                    sd_dq_oe <= 1'b1;
                    sd_dqm <= ~p_wbe;
                    t_pre[p_bank] <= at_least(dec(pp), K_WR);
                end else begin
                    rpipe[0] <= 1'b1;
                    t_wr <= K_RW;
                end
            end

            if (ready) begin
                p_valid <= req;
                p_we <= we;
                {p_row, p_bank, p_col} <= addr;
                p_wdata <= wdata;
                p_wbe <= wbe;
            end
        end

        if (rst) begin
            istate <= I_WAIT;
            icnt <= I_INIT;
            iref <= N_IREF;
            init_done <= 1'b0;
            sd_cke <= 1'b1;
            {sd_cs_n, sd_ras_n, sd_cas_n, sd_we_n} <= CMD_NOP;
            sd_dq_oe <= 1'b0;
            sd_dq_o <= 16'd0;
            sd_dqm <= 2'b00;
            sd_ba <= 2'b00;
            sd_a <= 13'd0;
            open <= 4'd0;
            for (b = 0; b < 4; b = b + 1) begin
                t_act[b] <= 8'd0;
                t_pre[b] <= 8'd0;
                t_cas[b] <= 8'd0;
            end
            t_rrd <= 8'd0;
            t_wr <= 8'd0;
            t_busy <= 8'd0;
            rcnt <= 0;
            ref_due <= 1'b0;
            p_valid <= 1'b0;
            rpipe <= 0;
            rvalid <= 1'b0;
        end
    end
endmodule

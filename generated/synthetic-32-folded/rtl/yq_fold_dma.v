// yq_fold_dma: the folded engine's copy unit between DRAM (a yq_sdram_ctrl user port) and the
// on-chip tile memory, for the row bands of a board with external memory
// (src/rtl/folded/band.rs). One copy is NSEG segments of SEG 16-bit words; DRAM segments
// start DSTRIDE words apart from DRAM, tile segments CSTRIDE words apart from CHIP. All are
// word counts and word addresses (the band rule keeps every tile, segment and stride even).
//
//   dir 0 (load):  DRAM -> tile. Reads are issued whenever the controller is ready; the
//                  controller returns them in order, and each is written to the tile in the
//                  cycle it arrives (the tile port is the DMA's alone while it runs).
//   dir 1 (store): tile -> DRAM. Tile reads (1-cycle latency) fill a 4-word queue ahead of
//                  the controller, so a write request is offered in every cycle the
//                  controller is ready.
//
// Two address walkers (yq_fold_dma_walk, below), one per side; the DRAM side advances on an
// accepted request, the tile side on a tile access. `done` pulses
// one cycle after the last word reached its destination (for a store: after the controller
// took the last write).
module yq_fold_dma #(
    parameter CA = 16,   // tile word address bits
    parameter DA = 24,   // DRAM word address bits
    parameter NW = 16    // segment, count and stride bits
) (
    input wire clk,
    input wire rst,
    input wire go,
    output reg done,
    input wire d_dir,
    input wire [DA-1:0] d_dram,
    input wire [CA-1:0] d_chip,
    input wire [NW-1:0] d_nseg,     // segments (>= 1)
    input wire [NW-1:0] d_seg,      // words per segment (>= 1)
    input wire [DA-1:0] d_dstride,
    input wire [CA-1:0] d_cstride,
    // tile memory, one 16-bit word per access, read data one cycle after c_rd
    output wire c_rd, output wire c_wr, output wire [CA-1:0] c_addr,
    output wire [15:0] c_wdata, input wire [15:0] c_rdata,
    // DRAM (yq_sdram_ctrl user port)
    output wire s_req, output wire s_we, output wire [DA-1:0] s_addr,
    output wire [15:0] s_wdata, output wire [1:0] s_wbe,
    input wire s_ready, input wire s_rvalid, input wire [15:0] s_rdata
);
    reg run, dir;

    // ---- walkers: DRAM side and tile side --------------------------------------------------
    wire d_step, c_step, d_last, c_last, d_end, c_end;
    wire [DA-1:0] ds_a;
    wire [CA-1:0] cs_a;
    yq_fold_dma_walk #(.AW(DA), .NW(NW)) u_dw (
        .clk(clk), .go(go), .step(d_step), .base(d_dram), .stride(d_dstride),
        .nseg(d_nseg), .seg(d_seg), .addr(ds_a), .last(d_last), .ended(d_end)
    );
    yq_fold_dma_walk #(.AW(CA), .NW(NW)) u_cw (
        .clk(clk), .go(go), .step(c_step), .base(d_chip), .stride(d_cstride),
        .nseg(d_nseg), .seg(d_seg), .addr(cs_a), .last(c_last), .ended(c_end)
    );

    // ---- store queue: tile words waiting for the controller ------------------------------
    reg [15:0] q [0:3];
    reg [1:0] q_wp, q_rp;
    reg [2:0] q_n;          // words queued
    reg rd1;                // a tile read is in flight (data next cycle)
    wire q_push = rd1;
    wire q_pop = run && dir && (q_n != 0) && s_ready;
    // issue a tile read while the queue (with the read in flight) has room
    wire [2:0] occ = q_n + {2'b00, rd1};
    wire t_rd = run && dir && !c_end && (occ < 3'd4 || q_pop);
    always @(posedge clk) begin
        if (rst || go) begin
            q_wp <= 0; q_rp <= 0; q_n <= 0; rd1 <= 1'b0;
        end else begin
            rd1 <= t_rd;
            if (q_push) begin q[q_wp] <= c_rdata; q_wp <= q_wp + 1'b1; end
            if (q_pop) q_rp <= q_rp + 1'b1;
            q_n <= q_n + {2'b00, q_push} - {2'b00, q_pop};
        end
    end

    // ---- ports ---------------------------------------------------------------------------
    wire l_req = run && !dir && !d_end;
    assign s_req = l_req || q_pop;
    assign s_we = dir;
    assign s_addr = ds_a;
    assign s_wdata = q[q_rp];
    assign s_wbe = 2'b11;
    assign d_step = (l_req && s_ready) || q_pop;
    wire l_wr = run && !dir && s_rvalid;
    assign c_step = l_wr || t_rd;
    assign c_rd = t_rd;
    assign c_wr = l_wr;
    assign c_addr = cs_a;
    assign c_wdata = s_rdata;

    // ---- control -------------------------------------------------------------------------
    always @(posedge clk) begin
        done <= 1'b0;
        if (rst) begin
            run <= 1'b0; dir <= 1'b0;
        end else if (go) begin
            run <= 1'b1; dir <= d_dir;
        end else if (run && (dir ? (d_step && d_last) : (c_step && c_last))) begin
            run <= 1'b0; done <= 1'b1;
        end
    end
endmodule
